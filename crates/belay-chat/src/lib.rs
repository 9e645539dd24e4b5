//! `belay chat`: a console where a language model drives MCP servers and a person stays in
//! control. [`console::run`] connects to [`Target`]s (stdio commands, reference servers,
//! URLs, `mcp.json` entries) through belay-client, merges their tools, and runs turns of a
//! [`ChatModel`] (OpenAI-compatible endpoints: [`openai`]; Anthropic's Messages: [`anthropic`]) that call them; servers' sampling
//! and elicitation requests go to the person ([`person`]). It depends on belay-client for
//! connections and sign-in, never on the gateway; the `belay` binary is a thin shell over it.
#![deny(missing_docs)]

pub mod anthropic;
mod commands;
pub mod complete;
pub mod connect;
pub mod console;
pub mod form;
pub mod handler;
pub mod mcp_json;
pub mod model;
pub mod openai;
pub mod person;
pub mod preferences;
pub mod servers;
pub mod settings;
pub mod show;
pub mod spec;
pub mod target;
pub mod turn;
pub mod unattended;

pub use console::{ChatOptions, ConnectError, Outcome, run};
pub use model::ChatModel;
pub use spec::ChatSpec;
pub use target::Target;
