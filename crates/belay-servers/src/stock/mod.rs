//! `stock`: mock market data for seven large caps (AAPL, MSFT, GOOGL, AMZN, TSLA, META,
//! NVDA), with tools that elicit and sample, prompts, resources and completion.
//!
//! Everything is deterministic: the snapshot is constant and the price history is a
//! seeded random walk ending at the current price on a fixed date, so tests can assert
//! exact values. Symbols are case-insensitive everywhere.
//!
//! | Kind | Names |
//! |------|-------|
//! | Tools | `get_stock_price`, `get_stock_history`, `compare_stock_prices`, `get_ticker_info` (elicits), `stock_headline_sampling` (samples), `calculate_portfolio_value`, `get_investment_advice` (elicits) |
//! | Resources | `stock://tickers`, `stock://sectors`, template `stock://{symbol}` |
//! | Prompts | `stock_analysis_prompt(symbol, period="1mo")`, `risk_assessment_prompt(symbol, risk_tolerance)` |
//! | Completion | `symbol` of both prompts and the template; `period`; `risk_tolerance` |

mod advice;
mod data;
mod history;
mod portfolio;
mod prompts;
mod resources;
mod tools;

use belay_mcp::schema::portable_tools;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::router::{prompt::PromptRouter, tool::ToolRouter},
    model::{
        CompleteRequestParams, CompleteResult, Implementation, ListResourceTemplatesResult,
        ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, ServerCapabilities, ServerConfig,
    },
    prompt_handler,
    service::RequestContext,
    tool_handler,
};

/// The name the server reports in `serverInfo`.
pub const SERVER_NAME: &str = "belay-stock";

const INSTRUCTIONS: &str = "Mock stock market data for AAPL, MSFT, GOOGL, AMZN, TSLA, META and \
NVDA (symbols are case-insensitive; prices in USD, frozen at 2023-11-17). Use get_stock_price \
for a quote, get_stock_history for daily CSV (periods 1d, 5d, 1mo, 3mo, 6mo, 1y), \
compare_stock_prices and calculate_portfolio_value for arithmetic, get_ticker_info for a \
profile, get_investment_advice for advice tailored to the user's answers, and \
stock_headline_sampling for a headline written by your model. Read stock://tickers, \
stock://sectors or stock://{symbol} for raw data. The data is fictional: never present it as \
live market data or as financial advice.";

/// The stock server. Cheap to clone: the routers are shared tables.
#[derive(Debug, Clone)]
pub struct StockServer {
    tool_router: ToolRouter<Self>,
    prompt_router: PromptRouter<Self>,
}

impl StockServer {
    /// A server over the bundled mock data.
    pub fn new() -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
            prompt_router: Self::prompt_router(),
        }
    }
}

impl Default for StockServer {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for StockServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .enable_completions()
                .build(),
        )
        .with_server_info(
            Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION"))
                .with_title("Belay stock (mock market data)"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::resources()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let contents = resources::read(&request.uri)?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        resources::complete(&request)
    }
}
