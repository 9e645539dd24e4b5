//! Belay's gateway: one MCP front door for many upstream MCP servers.
//!
//! [`GatewaySpec`] (config: upstreams as values, checked by [`check`] with line numbers)
//! becomes a [`Gateway`] (runtime: supervised upstream connections, health, breakers)
//! whose [`Gateway::router`] serves `/mcp` (every upstream's tools and prompts as
//! `<prefix><name>`) and `/servers/NAME/mcp`. Each proxied request runs through one
//! written-out [`chain::Chain::apply`]: authenticate → policy → rate limit → guard in →
//! upstream → guard out → audit, each step a trait; [`Chain::from_spec`] plugs in
//! belay-policy and belay-audit (the `adapters` module). Upstreams only ever see their own
//! configured credential, never the client's token.
#![deny(missing_docs)]

mod adapters;
mod admission;
mod arrivals;
pub mod blocks;
pub mod breaker;
mod caller_sessions;
pub mod chain;
mod check;
mod credential;
mod era;
mod error;
mod federation;
mod followers;
mod gateway;
mod guardrails;
mod http_limits;
mod hub;
mod in_flight;
mod input_required;
mod listen;
pub mod metrics;
pub mod openapi;
pub mod pins;
mod reload;
mod roster;
mod routes;
mod server;
pub mod spec;
mod stack;
mod tasks;
pub mod token_failures;
pub mod trace_context;
pub mod upstream;
mod upstream_client;

pub use adapters::{AuditLogSink, PolicyDecide, ThrottleLimit};
pub use blocks::BlockStore;
pub use chain::{
    Admission, Admitted, AuditRecord, AuditSink, CallContext, Chain, Decide, Decision, Guard,
    GuardAction, Limit, Refusal, Refused, Stop, UpstreamGuards, Verdict,
};
pub use check::check;
pub use error::{ConfigError, Error};
pub use gateway::Gateway;
pub use metrics::Metrics;
pub use pins::PinStore;
pub use reload::Reloaded;
pub use server::GatewayServer;
pub use spec::{
    CredentialSpec, GatewaySpec, HttpLimitsSpec, RateLimitStatus, TransportSpec, UpstreamSpec,
};
