//! Connecting: a Streamable HTTP transport with sign-in, and an MCP session on top.

use std::{sync::Arc, time::Duration};

use rmcp::{
    ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient,
    service::{ClientInitializeError, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use crate::{
    error::{Error, Result},
    http::SignedInClient,
    signin::{SignIn, SignInOptions},
};

/// rmcp's Streamable HTTP client transport for `sign_in`'s server, signing in on demand.
pub fn transport(sign_in: Arc<SignIn>) -> StreamableHttpClientTransport<SignedInClient> {
    transport_over(SignedInClient::new(reqwest::Client::new(), sign_in))
}

fn transport_over(client: SignedInClient) -> StreamableHttpClientTransport<SignedInClient> {
    let config = StreamableHttpClientTransportConfig::with_uri(client.auth().server().as_str());
    StreamableHttpClientTransport::with_client(client, config)
}

/// How long a new session waits for its standalone stream before sending requests.
const STANDALONE_STREAM_WAIT: Duration = Duration::from_secs(5);

/// Connects `handler` to the MCP server at `server_url`, signing in when the server asks.
/// `lifecycle` picks the handshake (`initialize`) or the 2026-07-28 `server/discover` era.
pub async fn connect<H: ClientHandler>(
    server_url: &str,
    options: SignInOptions,
    handler: H,
    lifecycle: ClientLifecycleMode,
) -> Result<RunningService<RoleClient, H>> {
    let sign_in = Arc::new(SignIn::new(server_url, options)?);
    connect_with(sign_in, handler, lifecycle).await
}

/// Like [`connect`], with sign-in state the caller keeps (to share it or sign out later).
pub async fn connect_with<H: ClientHandler>(
    sign_in: Arc<SignIn>,
    handler: H,
    lifecycle: ClientLifecycleMode,
) -> Result<RunningService<RoleClient, H>> {
    connect_over(reqwest::Client::new(), sign_in, handler, lifecycle).await
}

/// Like [`connect_with`], over an HTTP client the caller built: one with default headers
/// (an `mcp.json` entry's `headers`), a proxy or its own time limits.
pub async fn connect_over<H: ClientHandler>(
    http: reqwest::Client,
    sign_in: Arc<SignIn>,
    handler: H,
    lifecycle: ClientLifecycleMode,
) -> Result<RunningService<RoleClient, H>> {
    let client = SignedInClient::new(http, sign_in);
    let standalone = client.standalone_stream();
    let running = handler
        .serve_with_lifecycle(transport_over(client), lifecycle)
        .await
        .map_err(|e| match e {
            ClientInitializeError::NoCompatibleProtocolVersion { .. } => {
                Error::NoCommonRevision(e.to_string())
            }
            e => Error::Connect(e.to_string()),
        })?;
    // A server may need that stream to reach us during our first call.
    standalone.settled(STANDALONE_STREAM_WAIT).await;
    Ok(running)
}
