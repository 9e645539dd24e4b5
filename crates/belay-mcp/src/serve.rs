//! One entry point that runs a server on the transport the user picked.

use std::{fmt, str::FromStr, sync::Arc};

use axum::Router;
use rmcp::{ServerHandler, ServiceExt};
use tokio_util::sync::CancellationToken;

use crate::{Error, guard::AllowList, http};

/// The wire a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// JSON-RPC lines on stdin/stdout, for a client that launched us.
    #[default]
    Stdio,
    /// Streamable HTTP (revisions 2025-03-26 and later).
    Http,
    /// The legacy HTTP+SSE transport (revision 2024-11-05).
    Sse,
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stdio" => Ok(Self::Stdio),
            "http" | "streamable-http" => Ok(Self::Http),
            "sse" => Ok(Self::Sse),
            other => Err(format!(
                "unknown transport `{other}`: expected stdio, http or sse"
            )),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stdio => "stdio",
            Self::Http => "http",
            Self::Sse => "sse",
        })
    }
}

/// Wraps a server's HTTP router once the bound URL (second argument, e.g.
/// `http://127.0.0.1:8001/mcp`) is known, so layers that must name the server's own URL
/// (authorization's resource URI) work with `--port 0`. An `Err` stops the server
/// before it accepts a request, with the message as the reason.
pub type RouterWrap = Arc<dyn Fn(Router, &str) -> Result<Router, String> + Send + Sync>;

/// Where and how an HTTP transport listens.
#[derive(Clone)]
pub struct HttpOptions {
    /// Interface to bind, e.g. `127.0.0.1`.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Path of the Streamable HTTP endpoint, e.g. `/mcp`.
    pub path: String,
    /// Serve handshake-era clients without sessions.
    pub stateless: bool,
    /// Extra names and origins accepted by the DNS rebinding guard.
    pub allow: AllowList,
    /// Called after bind with the router and the bound URL; its result is served (inside
    /// the DNS rebinding guard). This crate knows nothing of auth: callers add it here.
    pub wrap: Option<RouterWrap>,
    /// Threads serving connections ([`http::run_sharded`]): above 1, each has its own
    /// single-threaded runtime and connections are dealt to them in turn, so a call
    /// crosses no thread. 1 (the default) serves on the caller's runtime.
    pub threads: usize,
    /// How long a client may take over a request head, or stay idle between requests.
    pub limits: http::HttpServerOptions,
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("stateless", &self.stateless)
            .field("allow", &self.allow)
            .field("wrap", &self.wrap.as_ref().map(|_| "Fn(Router, &str)"))
            .field("threads", &self.threads)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            path: "/mcp".into(),
            stateless: false,
            allow: AllowList::default(),
            wrap: None,
            threads: 1,
            limits: http::HttpServerOptions::default(),
        }
    }
}

/// Runs `server` over stdio until the client closes stdin or `shutdown` fires.
pub async fn serve_stdio<S: ServerHandler>(
    server: S,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    // Non-blocking pipes when a client launched us (the usual case): tokio's stdin/stdout
    // hand every read and write to a blocking thread, which costs several thread switches
    // per request (measured: 14k → 48k requests/s at 16 in flight, benches/RESULTS.md).
    let (stdin, stdout) = rmcp::transport::io::stdio_pipes();
    let (transport, written) = crate::stdio::transport(stdin, stdout);
    // rmcp spawns a task per request around the service's `handle_request` future, which
    // for a `ServerHandler` holds every request kind's branch inline (about 4 KiB); tokio
    // copies a task's future several times (spawn, each stage change). Boxed, the task
    // holds a pointer: measured on `belay serve stock` with 16 requests in flight, 10%
    // more requests/s (benches/RESULTS.md).
    let running = server
        .into_dyn()
        .serve_with_ct(transport, shutdown)
        .await
        .map_err(|e| Error::Session(e.to_string()))?;
    let outcome = running.waiting().await;
    // The service has dropped its sink; let the writer flush what is queued, but do not
    // hang on a stdout nobody reads.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), written).await;
    outcome.map_err(|e| Error::Session(e.to_string()))?;
    Ok(())
}

/// Runs `server` on `transport`. For HTTP transports `on_ready` receives the bound URL
/// before the first request is accepted (so callers can print it, or tests connect).
pub async fn serve<S>(
    server: S,
    transport: Transport,
    options: &HttpOptions,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(String),
) -> Result<(), Error>
where
    S: ServerHandler + Clone,
{
    let router = match transport {
        Transport::Stdio => return serve_stdio(server, shutdown).await,
        Transport::Http => {
            http::streamable_router(server, &options.path, options.stateless, shutdown.clone())
        }
        Transport::Sse => http::sse_router(server, shutdown.clone()),
    };
    let (listener, addr) = http::bind(&format!("{}:{}", options.host, options.port)).await?;
    let path = match transport {
        Transport::Sse => "/sse",
        _ => options.path.as_str(),
    };
    let url = format!("http://{addr}{path}");
    let router = match &options.wrap {
        Some(wrap) => wrap(router, &url).map_err(Error::Setup)?,
        None => router,
    };
    on_ready(url);
    http::run_sharded(
        listener,
        http::guarded(router, options.allow.clone()),
        shutdown,
        options.threads,
        options.limits.clone(),
    )
    .await
}
