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
mod signin;

pub use agent::{BrowserAgent, DevicePrompt, HeadlessAgent, LoopbackRedirect, UserAgent};
pub use authorized::{Authorize, Authorized};
pub use cache::{ClientRecord, TokenCache, TokenStore};
pub use connect::{connect, connect_over, connect_with, transport};
pub use error::{Error, Result};
pub use form::FormAgent;
pub use http::SignedInClient;
pub use signin::{Grant, SignIn, SignInOptions, canonical_server_url};
