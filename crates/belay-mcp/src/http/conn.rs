//! [`run_with`]: the HTTP/1 server loop with time limits per connection, so that slow or
//! idle clients cannot hold connections (and their tasks) for ever.
//!
//! `axum::serve` sets no timer, so hyper's own `header_read_timeout` never fires there; and
//! where it does fire, it starts whenever hyper waits for a request head, including on an
//! idle keep-alive connection, which would make the idle limit the same as the header limit.
//! Clients pool connections for about a minute or two (reqwest: 90 s); closing them sooner
//! invites the race where a client reuses a connection the server is closing. So each
//! connection here has a small watchdog with two separate limits:
//!
//! - the *head* limit, from the connection's start or from the first byte of a later
//!   request, until its head is complete (a slowloris dribbling headers is cut off);
//! - the *idle* limit, from the end of the last response, while nothing arrives.
//!
//! Neither runs while a request is in flight (from its head until its response body has
//! been written): a long tool call or an open SSE stream is not idle. A request's body has
//! its own deadline from the end of its head ([`super::body_deadline`]); its size limit
//! belongs to the routes, which know how much they take.
//!
//! Each request carries, in its extensions, axum's `ConnectInfo<SocketAddr>` (the TCP
//! peer) and the client address resolved through the trusted proxies
//! ([`super::ClientAddr`], read with [`super::client_ip`]). Connections per client address
//! are capped ([`super::per_address`]).

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    serve::Listener,
};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::watch,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::{
    ClientAddr, TrustedProxies, body_deadline,
    per_address::{PerAddress, Slot},
};
use crate::Error;

/// Limits of the server loop ([`run_with`]), and whom it trusts to name a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpServerOptions {
    /// Time a client has to send a complete request head (request line and headers),
    /// counted from the connection's start, or from the first byte of a later request.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this long.
    pub idle_timeout: Duration,
    /// Most bytes of a request head buffered before the connection is answered 431 and
    /// closed (at least 8 KiB, hyper's floor). This bounds memory; routes can give a
    /// friendlier 431 below it.
    pub max_head_bytes: usize,
    /// Time a client has to send a request's whole body, from the end of its head; then
    /// the request is answered 408 and the connection closed.
    pub body_read_timeout: Duration,
    /// Connections open at once from one client address (TCP peer); more are refused
    /// with 503 and closed. `None`: no cap (a loopback port only the gateway uses).
    /// Trusted proxies are exempt.
    pub max_connections_per_address: Option<usize>,
    /// Reverse proxies whose forwarding header names the client (none by default).
    pub trusted_proxies: TrustedProxies,
    /// Where these limits are configured, named in refusals and logs.
    pub setting_names: SettingNames,
}

/// The configuration keys behind [`HttpServerOptions`]' limits, e.g.
/// `"[gateway.http] request_timeout_secs"`; `None` where a limit is not configurable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingNames {
    /// Named in the 408 of a body not received in time.
    pub body_read_timeout: Option<&'static str>,
    /// Named in the 503 and the log line of a refused connection.
    pub max_connections_per_address: Option<&'static str>,
}

/// Connections one client address may hold open by default: room for a browser (six or
/// so per host), several SDK clients with their streams, and a client's pool under load.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 128;

impl Default for HttpServerOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_head_bytes: 64 * 1024,
            body_read_timeout: Duration::from_secs(30),
            max_connections_per_address: Some(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS),
            trusted_proxies: TrustedProxies::default(),
            setting_names: SettingNames::default(),
        }
    }
}

/// Serves `router` with `options` until `shutdown` is cancelled, then lets open requests
/// finish, with TCP_NODELAY on every connection. `listener` is a bound `TcpListener`,
/// or anything else that hands out TCP connections with their peer's address.
pub async fn run_with<L>(
    listener: L,
    router: Router,
    shutdown: CancellationToken,
    options: HttpServerOptions,
) -> Result<(), Error>
where
    L: Listener<Io = TcpStream, Addr = SocketAddr>,
{
    let per_address = PerAddress::new(&options);
    serve_on(listener, router, shutdown, options, per_address).await
}

/// [`run_with`], counting connections per address in `per_address` (which the shards of
/// [`super::run_sharded`] share).
pub(super) async fn serve_on<L>(
    mut listener: L,
    router: Router,
    shutdown: CancellationToken,
    options: HttpServerOptions,
    per_address: Arc<PerAddress>,
) -> Result<(), Error>
where
    L: Listener<Io = TcpStream, Addr = SocketAddr>,
{
    // Every connection task holds a receiver; when all are gone, every connection is closed.
    let (open_tx, open_rx) = watch::channel(());
    loop {
        // axum's accept retries (after a pause) on errors such as too many open files.
        let (tcp, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = shutdown.cancelled() => break,
        };
        let slot = match per_address.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                // Best effort: a socket that cannot take it at once is just closed.
                let _ = tcp.try_write(refusal);
                continue;
            }
        };
        // rmcp answers with SSE in several small writes; with Nagle on, each response on a
        // kept-alive connection would wait ~40 ms for the peer's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let connection =
            serve_connection(tcp, peer, router.clone(), options.clone(), shutdown.clone());
        let open = open_rx.clone();
        tokio::spawn(async move {
            connection.await;
            drop::<Option<Slot>>(slot);
            drop(open);
        });
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

/// Serves one connection until it ends, a limit closes it, or shutdown lets it finish.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    options: HttpServerOptions,
    shutdown: CancellationToken,
) {
    let activity = Arc::new(Activity::new(Instant::now()));
    let io = TokioIo::new(Watched {
        inner: tcp,
        activity: activity.clone(),
    });
    let requests = activity.clone();
    let (body_timeout, trusted) = (options.body_read_timeout, options.trusted_proxies.clone());
    let body_setting = options.setting_names.body_read_timeout;
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // Called once the head is complete: from here until the response body is written,
        // the connection is busy, not slow.
        let in_flight = InFlight::begin(requests.clone());
        let router = router.clone();
        let client = trusted.client_of(peer.ip(), request.headers());
        let extensions = request.extensions_mut();
        extensions.insert(ConnectInfo(peer));
        extensions.insert(ClientAddr(client));
        async move {
            let respond = |request| async move {
                match tower::ServiceExt::oneshot(router, request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            };
            let response =
                body_deadline::within(request, body_timeout, body_setting, respond).await;
            Ok::<_, Infallible>(response.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(options.max_head_bytes.max(8192));
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let check = activity.next_check(&options);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !draining => {
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
            () = tokio::time::sleep_until(check) => {
                if let Some(why) = activity.expired(&options, Instant::now()) {
                    // Nothing is in flight, so dropping the connection loses no answer.
                    tracing::debug!(why, "closing a connection");
                    return;
                }
            }
        }
    }
}

/// What the watchdog of one connection knows.
#[derive(Debug)]
struct Activity(Mutex<State>);

#[derive(Debug)]
struct State {
    /// Requests whose head was read and whose response body is not yet written.
    in_flight: usize,
    /// When the head now awaited started (connection start, or its first byte).
    head_started: Option<Instant>,
    /// When the connection last became free of requests.
    idle_since: Instant,
}

impl Activity {
    fn new(now: Instant) -> Self {
        // A new connection owes its first request head at once: no idle grace before it.
        Self(Mutex::new(State {
            in_flight: 0,
            head_started: Some(now),
            idle_since: now,
        }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: between requests, they start the next head's clock.
    fn read(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
        }
    }

    /// When a limit could next expire. While a request is in flight, the earliest a limit
    /// can expire is a full period after it ends, so looking again after the shorter
    /// period never looks too late.
    fn next_check(&self, options: &HttpServerOptions) -> Instant {
        let state = self.state();
        if state.in_flight > 0 {
            Instant::now() + options.header_read_timeout.min(options.idle_timeout)
        } else if let Some(started) = state.head_started {
            started + options.header_read_timeout
        } else {
            state.idle_since + options.idle_timeout
        }
    }

    /// Why the connection should close now, if a limit has expired.
    fn expired(&self, options: &HttpServerOptions, now: Instant) -> Option<&'static str> {
        let state = self.state();
        if state.in_flight > 0 {
            None
        } else if let Some(started) = state.head_started {
            (now >= started + options.header_read_timeout)
                .then_some("request head not received within the header read timeout")
        } else {
            (now >= state.idle_since + options.idle_timeout).then_some("idle timeout")
        }
    }
}

/// One request in flight; the connection is free again when this drops.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: Arc<Activity>) -> Self {
        {
            let mut state = activity.state();
            state.in_flight += 1;
            state.head_started = None;
        }
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
    }
}

/// A response body that marks its request finished when hyper is done with it.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The TCP stream, telling the watchdog when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> HttpServerOptions {
        HttpServerOptions {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_head_bytes: 8192,
            ..HttpServerOptions::default()
        }
    }

    #[tokio::test]
    async fn limits_apply_only_between_requests() {
        let start = Instant::now();
        let activity = Arc::new(Activity::new(start));
        let o = options();
        // A new connection owes its head within the header limit.
        assert_eq!(activity.next_check(&o), start + o.header_read_timeout);
        assert!(
            activity
                .expired(&o, start + o.header_read_timeout)
                .is_some()
        );

        let request = InFlight::begin(activity.clone());
        assert!(
            activity
                .expired(&o, start + Duration::from_secs(1000))
                .is_none()
        );
        drop(request);
        // Idle now: the longer limit applies until bytes of the next request arrive.
        let free = Instant::now();
        assert!(activity.expired(&o, free + o.header_read_timeout).is_none());
        assert!(activity.expired(&o, free + o.idle_timeout).is_some());
        activity.read();
        assert!(
            activity
                .expired(&o, Instant::now() + o.header_read_timeout)
                .is_some()
        );
    }
}
