//! [`run_sharded`]: HTTP served by several single-threaded runtimes, one per thread.
//!
//! On tokio's work-stealing runtime one MCP call over Streamable HTTP wakes half a dozen
//! tasks (the connection, rmcp's session worker, its service loop, the handler, the
//! response stream), and each wake-up may hand the task to the other worker thread: most
//! of the CPU time of a call at low load went to thread hand-offs (benches/RESULTS.md).
//! Here one task accepts connections and deals them round-robin to the shards; a
//! connection, the session it opens and the tasks rmcp spawns for it then stay on one
//! thread. Sessions are still shared: a request for a session opened on another shard
//! reaches it through rmcp's channels, as before.

use std::{io, net::SocketAddr};

use axum::{Router, serve::Listener};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot},
};
use tokio_util::sync::CancellationToken;

use super::{HttpServerOptions, per_address::PerAddress};
use crate::Error;

/// Serves `router` on `shards` threads until `shutdown` is cancelled, then lets open
/// requests finish, each shard with the limits of `options` (as [`super::run_with`]; the
/// cap on connections per address counts them on every shard together).
///
/// Shard 0 runs on the caller's runtime, beside the accepting task; the others get a
/// thread and a current-thread runtime each. With `shards` ≤ 1 this is [`super::run_with`].
/// For the benefit to show, call it from a current-thread runtime: on a multi-threaded
/// one, shard 0's tasks still move between that runtime's workers.
pub async fn run_sharded(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    shards: usize,
    options: HttpServerOptions,
) -> Result<(), Error> {
    if shards <= 1 {
        return super::run_with(listener, router, shutdown, options).await;
    }
    let local = listener.local_addr()?;
    let per_address = PerAddress::new(&options);
    // A shard's runtime also runs the session workers of the sessions opened through it,
    // which requests on other shards may still be waiting on: no runtime is dropped until
    // every shard has finished its requests.
    let release = CancellationToken::new();
    let mut queues = Vec::with_capacity(shards);
    let mut finished = Vec::with_capacity(shards - 1);
    let mut exited = Vec::with_capacity(shards - 1);
    for index in 1..shards {
        let (queue, handed) = mpsc::unbounded_channel();
        let (done, finish) = oneshot::channel();
        let (router, shutdown, release) = (router.clone(), shutdown.clone(), release.clone());
        let (options, per_address) = (options.clone(), per_address.clone());
        let thread = std::thread::Builder::new()
            .name(format!("belay-http-{index}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => return drop(done.send(Err(e.into()))),
                };
                runtime.block_on(async move {
                    let handed = Handed { handed, local };
                    let served =
                        super::conn::serve_on(handed, router, shutdown, options, per_address).await;
                    let _ = done.send(served);
                    release.cancelled().await;
                });
            })?;
        queues.push(queue);
        finished.push(finish);
        exited.push(thread);
    }
    let (queue, handed) = mpsc::unbounded_channel();
    queues.insert(0, queue);
    let dealer = tokio::spawn(deal(listener, queues, shutdown.clone()));
    let handed = Handed { handed, local };
    let mut outcome = super::conn::serve_on(handed, router, shutdown, options, per_address).await;
    for finish in finished {
        let served = finish
            .await
            .unwrap_or_else(|_| Err(io::Error::other("an HTTP shard thread panicked").into()));
        outcome = outcome.and(served);
    }
    release.cancel();
    for thread in exited {
        // Each thread has finished serving; joining waits for it to drop its runtime and end.
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            outcome = outcome.and(Err(io::Error::other("an HTTP shard thread panicked").into()));
        }
    }
    // The dealer stops at shutdown; it owns the listening socket, so wait for it to close.
    let _ = dealer.await;
    outcome
}

/// Accepts connections and hands them to the shards in turn, until `shutdown`.
async fn deal(
    mut listener: TcpListener,
    queues: Vec<mpsc::UnboundedSender<std::net::TcpStream>>,
    shutdown: CancellationToken,
) {
    for turn in (0..queues.len()).cycle() {
        // axum's accept logs and retries errors such as too many open files.
        let (tcp, _remote) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = shutdown.cancelled() => return,
        };
        // A socket moves between runtimes as a std socket (each runtime registers it with
        // its own I/O driver).
        match tcp.into_std() {
            // A shard that is gone is shutting down: the connection is dropped.
            Ok(tcp) => drop(queues[turn].send(tcp)),
            Err(e) => tracing::debug!(error = %e, "cannot hand over a connection"),
        }
    }
}

/// The connections dealt to one shard, as axum's listener.
struct Handed {
    handed: mpsc::UnboundedReceiver<std::net::TcpStream>,
    local: SocketAddr,
}

impl Listener for Handed {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            // No more connections: the dealer stopped for shutdown, which axum is about
            // to act on; until then there is nothing to accept.
            let Some(tcp) = self.handed.recv().await else {
                return std::future::pending().await;
            };
            let tcp = TcpStream::from_std(tcp);
            match tcp.and_then(|tcp| Ok((tcp.peer_addr()?, tcp))) {
                Ok((remote, tcp)) => return (tcp, remote),
                // The peer may already be gone; nothing to serve.
                Err(e) => tracing::debug!(error = %e, "dropping a handed-over connection"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashSet,
        sync::{Arc, Mutex},
        thread::ThreadId,
    };

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get_once(addr: SocketAddr) -> io::Result<String> {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(b"GET /thread HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await?;
        let mut reply = String::new();
        tcp.read_to_string(&mut reply).await?;
        Ok(reply)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connections_are_dealt_to_every_shard_and_shutdown_waits_for_them() -> io::Result<()> {
        let threads = Arc::new(Mutex::new(HashSet::<ThreadId>::new()));
        let seen = threads.clone();
        let router = Router::new().route(
            "/thread",
            get(move || {
                let seen = seen.clone();
                async move {
                    if let Ok(mut seen) = seen.lock() {
                        seen.insert(std::thread::current().id());
                    }
                    "served"
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(run_sharded(
            listener,
            router,
            shutdown.clone(),
            3,
            HttpServerOptions::default(),
        ));
        for _ in 0..6 {
            let reply = get_once(addr).await?;
            assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
            assert!(reply.ends_with("served"), "{reply}");
        }
        let distinct = threads.lock().map(|seen| seen.len()).unwrap_or_default();
        assert_eq!(distinct, 3, "six connections over three shards");

        shutdown.cancel();
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
        // The listening socket is closed once the server has returned.
        assert!(TcpStream::connect(addr).await.is_err());
        Ok(())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_shard_cuts_off_a_client_slow_to_send_its_head() -> io::Result<()> {
        let router = Router::new().route("/thread", get(|| async { "served" }));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let options = HttpServerOptions {
            header_read_timeout: std::time::Duration::from_millis(300),
            ..HttpServerOptions::default()
        };
        let server = tokio::spawn(run_sharded(listener, router, shutdown.clone(), 2, options));
        // One stalled connection per shard (they are dealt in turn).
        let started = tokio::time::Instant::now();
        let mut stalled = Vec::new();
        for _ in 0..2 {
            let mut tcp = TcpStream::connect(addr).await?;
            tcp.write_all(b"GET /thread HTTP/1.1\r\nHost: 127.0")
                .await?;
            stalled.push(tcp);
        }
        // Others are still served meanwhile.
        assert!(get_once(addr).await?.ends_with("served"));
        for mut tcp in stalled {
            let mut rest = Vec::new();
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                tcp.read_to_end(&mut rest),
            )
            .await;
            assert!(
                matches!(read, Ok(Ok(_)) | Ok(Err(_))),
                "still open after 5 s"
            );
        }
        let waited = started.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(250),
            "closed too soon: {waited:?}"
        );
        shutdown.cancel();
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
        Ok(())
    }
}
