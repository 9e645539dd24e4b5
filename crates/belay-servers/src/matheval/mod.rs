//! The `matheval` server: one tool, `evaluate`, backed by a safe arithmetic evaluator.
//!
//! The evaluator ([`evaluate`]) is a pure function with no MCP in it, so the fuzz target
//! and unit tests call it directly. It only ever computes numbers: there are no
//! variables, no assignments and nothing that reaches outside the process. Bad input is a
//! tool result with `isError: true` carrying the message and column, never a JSON-RPC
//! error, so a model can read the message and fix its expression.

mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

pub use eval::{CONSTANTS, EvalError, FUNCTIONS, MAX_DEPTH, MAX_LEN, evaluate};

use crate::results::structured;
use belay_mcp::{Parameters, schema::portable_tools};
use rmcp::{
    ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::schema_for_output},
    model::{CallToolResult, ContentBlock},
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Arguments of the `evaluate` tool.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct EvaluateArgs {
    /// An arithmetic expression, e.g. `2 * (3 + sqrt(16)) ^ 2` or `max(1, 2, pi)`.
    pub expression: String,
}

/// Structured result of the `evaluate` tool.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct Evaluation {
    /// The value of the expression.
    pub value: f64,
}

/// Safe arithmetic evaluation as an MCP server.
#[derive(Debug, Clone)]
pub struct MathEvalServer {
    tool_router: ToolRouter<Self>,
}

impl Default for MathEvalServer {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_router]
impl MathEvalServer {
    /// A new server; it holds no state.
    pub fn new() -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
        }
    }

    /// Evaluates an arithmetic expression.
    #[tool(
        description = "Evaluate an arithmetic expression exactly and safely (no code runs). \
            Supports numbers (12, 3.5, 1e-3), + - * / % ^ (power, right-associative), \
            unary minus, parentheses, the functions sqrt, abs, min, max (one or more \
            arguments), sin, cos (radians), log (natural; log(x, base) for another base) and \
            the constants pi and e. At most 1000 characters and 64 levels of nesting.",
        output_schema = schema_for_output::<Evaluation>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn evaluate(&self, Parameters(args): Parameters<EvaluateArgs>) -> CallToolResult {
        match evaluate(&args.expression) {
            Ok(value) => {
                let text = format!("{} = {value}", args.expression.trim());
                structured(text, &Evaluation { value })
            }
            Err(err) => CallToolResult::error(vec![ContentBlock::text(err.to_string())]),
        }
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "belay-matheval",
    instructions = "Call `evaluate` for any arithmetic instead of computing it yourself."
)]
impl ServerHandler for MathEvalServer {}
