//! One benchmark run: spawn the server (timing its cold start), open the sessions, drive
//! `tools/call` in a closed loop through a warm-up and a measured window, read the server's
//! peak RSS and CPU time, stop it, and summarise as one JSON line.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant as TokioInstant;

use crate::http::{HttpSession, connect_when_up};
use crate::mcp;
use crate::server::{self, Channel, Server};
use crate::stdio::StdioConn;

/// The transport a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    /// Streamable HTTP: one session per HTTP/1.1 connection.
    Http,
    /// stdio: newline-delimited JSON-RPC on the server's stdin/stdout.
    Stdio,
}

/// What N stdio "sessions" mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StdioMode {
    /// One server process, one MCP session, N requests in flight on its pipe.
    Pipeline,
    /// N server processes, one session and one request in flight each.
    Processes,
}

/// Options of `belay-loadgen run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Label of the server in the results (e.g. belay, python, typescript).
    #[arg(long)]
    name: String,

    /// Transport to drive.
    #[arg(long, value_enum)]
    transport: Transport,

    /// Concurrent sessions, each with one request in flight (see --stdio-mode for stdio).
    #[arg(long, default_value_t = 1)]
    sessions: usize,

    /// For stdio: N sessions are N in-flight requests on one process's pipe (`pipeline`) or N
    /// processes (`processes`).
    #[arg(long, value_enum, default_value = "pipeline")]
    stdio_mode: StdioMode,

    /// Seconds of load before measuring (JIT, caches, allocator warm-up).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,

    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,

    /// Cold starts timed (spawn → initialize → first tools/call answered); the median is
    /// reported, and the last server started is the one loaded.
    #[arg(long, default_value_t = 3)]
    cold_reps: usize,

    /// HTTP path of the MCP endpoint.
    #[arg(long, default_value = "/mcp")]
    path: String,

    /// Append the server's stderr (and, for HTTP, stdout) here instead of discarding it.
    #[arg(long)]
    log: Option<PathBuf>,

    /// Seconds a single request may take before the run fails.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,

    /// Seconds a server may take to start and answer its first call.
    #[arg(long, default_value_t = 60.0)]
    start_timeout: f64,

    /// The server command; `{port}` is replaced by a free port for HTTP.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// The summary of one run: one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunResult {
    /// Server label.
    pub(crate) server: String,
    /// Transport driven.
    pub(crate) transport: Transport,
    /// Concurrent sessions (requests in flight).
    pub(crate) sessions: usize,
    /// For stdio, what the sessions were.
    pub(crate) stdio_mode: Option<StdioMode>,
    /// Server processes loaded.
    pub(crate) processes: usize,
    /// Protocol version the server negotiated.
    pub(crate) protocol_version: String,
    /// Successful calls in the measured window.
    pub(crate) requests: u64,
    /// Failed calls (transport errors, JSON-RPC errors, wrong prices) in warm-up and window.
    pub(crate) errors: u64,
    /// The first few error messages.
    pub(crate) error_samples: Vec<String>,
    /// Seconds measured.
    pub(crate) duration_s: f64,
    /// Successful calls per second in the window.
    pub(crate) rps: f64,
    /// Latency percentiles and extremes of the window's calls, in milliseconds.
    pub(crate) mean_ms: f64,
    /// Median latency.
    pub(crate) p50_ms: f64,
    /// 90th percentile latency.
    pub(crate) p90_ms: f64,
    /// 99th percentile latency.
    pub(crate) p99_ms: f64,
    /// Slowest call.
    pub(crate) max_ms: f64,
    /// Peak RSS (VmHWM) of the server process, the largest one with several processes, MiB.
    pub(crate) peak_rss_mib: f64,
    /// Sum of the processes' peak RSS, MiB.
    pub(crate) peak_rss_sum_mib: f64,
    /// Median cold start: spawn → initialize → first tools/call answered, ms.
    pub(crate) cold_start_ms: f64,
    /// Every cold start timed, ms.
    pub(crate) cold_start_samples_ms: Vec<f64>,
    /// CPU cores the server used during the window (CPU seconds / wall seconds).
    pub(crate) server_cpu_cores: f64,
    /// CPU cores the load generator used during the window.
    pub(crate) loadgen_cpu_cores: f64,
    /// CPU cores everything else on the machine used during the window: well above 0 means
    /// the numbers are disturbed.
    #[serde(default)]
    pub(crate) other_cpu_cores: f64,
    /// The server command.
    pub(crate) command: Vec<String>,
}

/// A session under load.
enum Client {
    Http(HttpSession),
    Stdio(Arc<StdioConn>),
}

impl Client {
    async fn request(&mut self, body: String, id: u64) -> anyhow::Result<Value> {
        match self {
            Self::Http(session) => session.request(body, id).await,
            Self::Stdio(conn) => conn.request(body, id).await,
        }
    }
}

/// What one worker saw in the measured window.
#[derive(Default)]
struct WorkerStats {
    latencies_ns: Vec<u64>,
    errors: u64,
    error_samples: Vec<String>,
}

impl WorkerStats {
    fn error(&mut self, err: &anyhow::Error) {
        self.errors += 1;
        if self.error_samples.len() < 3 {
            self.error_samples.push(format!("{err:#}"));
        }
    }
}

/// A started server and the session its cold start used.
struct Started {
    server: Server,
    probe: Client,
    version: String,
    elapsed: Duration,
    port: Option<u16>,
}

impl RunArgs {
    fn channel(&self) -> Channel {
        match self.transport {
            Transport::Http => Channel::Http,
            Transport::Stdio => Channel::Stdio,
        }
    }

    /// Spawns the server and times spawn → initialize → initialized → first call answered.
    async fn cold_start(&self, ids: &AtomicU64) -> anyhow::Result<Started> {
        let port = match self.transport {
            Transport::Http => Some(server::free_port()?),
            Transport::Stdio => None,
        };
        let deadline = Instant::now() + Duration::from_secs_f64(self.start_timeout);
        let t0 = Instant::now();
        let mut server = Server::spawn(&self.command, port, self.channel(), self.log.as_deref())?;
        let startup = async {
            let (mut probe, version) = match port {
                Some(port) => {
                    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                    let stream = connect_when_up(addr, deadline, || server.check_alive()).await?;
                    let session =
                        HttpSession::start(stream, &self.path, ids.fetch_add(1, Ordering::Relaxed))
                            .await?;
                    let version = session.version.clone();
                    (Client::Http(session), version)
                }
                None => {
                    let (stdin, stdout) = server.take_stdio()?;
                    let conn = StdioConn::new(stdin, stdout);
                    let version = conn.handshake(ids.fetch_add(1, Ordering::Relaxed)).await?;
                    (Client::Stdio(Arc::new(conn)), version)
                }
            };
            let id = ids.fetch_add(1, Ordering::Relaxed);
            let (body, which) = mcp::call(id, 0);
            let response = probe.request(body, id).await?;
            mcp::check_price(&response, which).context("first tools/call")?;
            anyhow::Ok((probe, version))
        };
        let (probe, version) = tokio::time::timeout_at(TokioInstant::from_std(deadline), startup)
            .await
            .context("the server did not answer its first call in time")?
            .with_context(|| format!("cold start of `{}`", self.command.join(" ")))?;
        Ok(Started {
            elapsed: t0.elapsed(),
            server,
            probe,
            version,
            port,
        })
    }
}

/// Performs one run.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<RunResult> {
    anyhow::ensure!(args.sessions >= 1, "--sessions must be at least 1");
    anyhow::ensure!(
        args.duration > 0.0 && args.warmup >= 0.0,
        "bad --duration/--warmup"
    );
    let ids = AtomicU64::new(1);

    // Cold starts; the last server stays up for the load.
    let mut cold = Vec::new();
    let mut started = None;
    for _ in 0..args.cold_reps.max(1) {
        if let Some(previous) = started.take() {
            let Started { server, probe, .. } = previous;
            drop(probe);
            server.stop().await;
        }
        let s = args.cold_start(&ids).await?;
        cold.push(ms(s.elapsed));
        started = Some(s);
    }
    let Started {
        server,
        probe,
        version,
        port,
        ..
    } = started.context("no server started")?;
    let mut servers = vec![server];

    // The sessions under load. stdio connections are also held here until the end: a stdio
    // server exits when its stdin closes, and it must still be there to be measured.
    let mut clients = Vec::with_capacity(args.sessions);
    let mut keep_open: Vec<Arc<StdioConn>> = Vec::new();
    match (args.transport, args.stdio_mode) {
        (Transport::Http, _) => {
            // End the cold-start session, so N sessions are open under load, not N + 1.
            if let Client::Http(session) = probe {
                session
                    .close()
                    .await
                    .context("DELETE the cold-start session")?;
            }
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port.context("no port")?));
            for _ in 0..args.sessions {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                let id = ids.fetch_add(1, Ordering::Relaxed);
                clients.push(Client::Http(
                    HttpSession::start(stream, &args.path, id).await?,
                ));
            }
        }
        (Transport::Stdio, StdioMode::Pipeline) => {
            let Client::Stdio(conn) = probe else {
                anyhow::bail!("stdio probe is not a stdio session")
            };
            clients.extend((0..args.sessions).map(|_| Client::Stdio(Arc::clone(&conn))));
            keep_open.push(conn);
        }
        (Transport::Stdio, StdioMode::Processes) => {
            if let Client::Stdio(conn) = &probe {
                keep_open.push(Arc::clone(conn));
            }
            clients.push(probe);
            for _ in 1..args.sessions {
                let mut server =
                    Server::spawn(&args.command, None, Channel::Stdio, args.log.as_deref())?;
                let (stdin, stdout) = server.take_stdio()?;
                let conn = StdioConn::new(stdin, stdout);
                conn.handshake(ids.fetch_add(1, Ordering::Relaxed)).await?;
                let conn = Arc::new(conn);
                keep_open.push(Arc::clone(&conn));
                clients.push(Client::Stdio(conn));
                servers.push(server);
            }
        }
    }

    // Closed loop: every session keeps exactly one request in flight.
    let ids = Arc::new(ids);
    let measure_from = Instant::now() + Duration::from_secs_f64(args.warmup);
    let measure_until = measure_from + Duration::from_secs_f64(args.duration);
    let timeout = Duration::from_secs_f64(args.timeout);
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            let ids = Arc::clone(&ids);
            tokio::spawn(worker(
                client,
                i as u64,
                ids,
                measure_from,
                measure_until,
                timeout,
            ))
        })
        .collect();

    tokio::time::sleep_until(TokioInstant::from_std(measure_from)).await;
    let server_cpu0 = total_cpu(&servers)?;
    let self_cpu0 = server::cpu_seconds("self")?;
    let machine0 = server::machine_busy_seconds()?;
    let wall0 = Instant::now();
    tokio::time::sleep_until(TokioInstant::from_std(measure_until)).await;
    let server_cpu1 = total_cpu(&servers)?;
    let self_cpu1 = server::cpu_seconds("self")?;
    let machine1 = server::machine_busy_seconds()?;
    let wall = wall0.elapsed().as_secs_f64();
    let server_cpu = (server_cpu1 - server_cpu0) / wall;
    let loadgen_cpu = (self_cpu1 - self_cpu0) / wall;
    let other_cpu = ((machine1 - machine0) / wall - server_cpu - loadgen_cpu).max(0.0);
    // Now, while every session is still open: a stdio server exits once its stdin closes,
    // and a process that has exited has no VmHWM any more.
    let mut rss = Vec::new();
    for s in &servers {
        rss.push(s.peak_rss_kib()?);
    }

    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut error_samples = Vec::new();
    for w in workers {
        let stats = w.await.context("worker panicked")?;
        latencies.extend(stats.latencies_ns);
        errors += stats.errors;
        for s in stats.error_samples {
            if error_samples.len() < 5 && !error_samples.contains(&s) {
                error_samples.push(s);
            }
        }
    }

    drop(keep_open);
    for s in servers {
        s.stop().await;
    }

    latencies.sort_unstable();
    let pct = |p: f64| percentile_ms(&latencies, p);
    let requests = latencies.len() as u64;
    #[allow(clippy::cast_precision_loss)]
    let mean_ms = if latencies.is_empty() {
        0.0
    } else {
        latencies.iter().sum::<u64>() as f64 / latencies.len() as f64 / 1e6
    };
    #[allow(clippy::cast_precision_loss)]
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut sorted_cold = cold.clone();
    sorted_cold.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    Ok(RunResult {
        server: args.name.clone(),
        transport: args.transport,
        sessions: args.sessions,
        stdio_mode: (args.transport == Transport::Stdio).then_some(args.stdio_mode),
        processes: rss.len(),
        protocol_version: version,
        requests,
        errors,
        error_samples,
        duration_s: args.duration,
        rps: requests as f64 / args.duration,
        mean_ms,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: latencies.last().map_or(0.0, |&ns| ns as f64 / 1e6),
        peak_rss_mib: mib(rss.iter().copied().max().unwrap_or(0)),
        peak_rss_sum_mib: mib(rss.iter().sum()),
        cold_start_ms: sorted_cold[sorted_cold.len() / 2],
        cold_start_samples_ms: cold,
        server_cpu_cores: server_cpu,
        loadgen_cpu_cores: loadgen_cpu,
        other_cpu_cores: other_cpu,
        command: args.command,
    })
}

/// One session's closed loop: send, wait for the answer, check it, repeat until the window
/// closes. Only calls that start inside the window are recorded.
async fn worker(
    mut client: Client,
    index: u64,
    ids: Arc<AtomicU64>,
    measure_from: Instant,
    measure_until: Instant,
    timeout: Duration,
) -> WorkerStats {
    let mut stats = WorkerStats::default();
    // Sessions start on different tickers so concurrent calls differ.
    let mut n = index;
    loop {
        let start = Instant::now();
        if start >= measure_until {
            break;
        }
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let (body, which) = mcp::call(id, n);
        n += 1;
        let outcome = match tokio::time::timeout(timeout, client.request(body, id)).await {
            Ok(Ok(response)) => mcp::check_price(&response, which),
            Ok(Err(err)) => {
                // The session is broken (connection closed, server gone): stop this worker.
                stats.error(&err);
                break;
            }
            Err(_) => {
                stats.error(&anyhow::anyhow!("no answer to id {id} within {timeout:?}"));
                break;
            }
        };
        let latency = start.elapsed();
        match outcome {
            Ok(()) if start >= measure_from => {
                stats
                    .latencies_ns
                    .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
            }
            Ok(()) => {}
            Err(err) => stats.error(&err),
        }
    }
    stats
}

fn total_cpu(servers: &[Server]) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for s in servers {
        total += s.cpu_seconds()?;
    }
    Ok(total)
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn percentile_ms(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((p * sorted_ns.len() as f64).ceil() as usize).clamp(1, sorted_ns.len());
    #[allow(clippy::cast_precision_loss)]
    let value = sorted_ns[rank - 1] as f64 / 1e6;
    value
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::percentile_ms;

    #[test]
    fn nearest_rank_percentiles() {
        let ns: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert!((percentile_ms(&ns, 0.5) - 50.0).abs() < 1e-9);
        assert!((percentile_ms(&ns, 0.99) - 99.0).abs() < 1e-9);
        assert!((percentile_ms(&[7_000_000], 0.99) - 7.0).abs() < 1e-9);
        assert!(percentile_ms(&[], 0.5).abs() < 1e-9);
    }
}
