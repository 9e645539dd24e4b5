//! Connect to MCP servers over Streamable HTTP and sign in to them with OAuth 2.1.
//!
//! [`SignIn`] holds one server's sign-in (discovery, client identity, authorization code +
//! PKCE or device grant, step-up, refresh; tokens in a [`TokenCache`]); [`SignedInClient`]
//! is the HTTP client under rmcp's transport that signs in when the server answers 401;
//! [`connect`] puts an rmcp client session on top; [`Authorized`] is the same HTTP client
//! for any other [`Authorize`] policy (a gateway's own credential). rmcp's `AuthorizationManager` does the
//! protocol work; this crate decides when and keeps state. It depends on no Belay crate.
//! [`legacy_sse`] is the 2024-11-05 HTTP+SSE client transport, for servers that only speak it.
//! A [`UserAgent`] takes the user through the authorization URL: [`BrowserAgent`] (prints,
//! opens a browser), [`HeadlessAgent`] (auto-approving servers), [`FormAgent`] (scripts).
//!
//! What to connect to is a [`Target`] (a stdio command, a reference server by name, a URL,
//! or an entry of an `mcp.json` file: [`McpJson`]); [`open()`] opens a session to any of them
//! with any rmcp client handler. `belay chat` and `belay scan` both start from these.
#![deny(missing_docs)]

pub mod agent;
pub mod authorized;
pub mod cache;
mod connect;
mod device;
pub mod error;
mod form;
mod http;
pub mod legacy_sse;
pub mod mcp_json;
pub mod open;
mod signin;
pub mod target;
pub mod terminal;

pub use agent::{BrowserAgent, DevicePrompt, HeadlessAgent, LoopbackRedirect, UserAgent};
pub use authorized::{Authorize, Authorized};
pub use cache::{ClientRecord, TokenCache, TokenStore};
pub use connect::{connect, connect_over, connect_with, transport};
pub use error::{Error, Result};
pub use form::FormAgent;
pub use http::SignedInClient;
pub use mcp_json::{InputSpec, McpJson};
pub use open::{ConnectOptions, OpenError, ProtocolEra, access_token, open};
pub use signin::{Grant, SignIn, SignInOptions, canonical_server_url};
pub use target::{Target, TargetError, Transport};
