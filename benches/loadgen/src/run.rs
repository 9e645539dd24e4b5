//! One benchmark run: spawn the server (timing its cold start), open the sessions, drive
//! `tools/call` in a closed loop through a warm-up and a measured window, read the server's
//! peak RSS and CPU time, stop it, and summarise as one JSON line.
//!
//! With `--connect` the server is already running (a gateway and its upstream, started by
//! `benches/gateway`): nothing is spawned or stopped, no cold start is timed, and CPU and RSS
//! are read from the `--pid` processes.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use tokio::time::Instant as TokioInstant;

use crate::http::{self, Headers, HttpSession, connect_when_up};
use crate::load::{self, Client, Counters, Window, ms, percentile_ms};
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

    /// Load a server already listening at this address (e.g. 127.0.0.1:8000) instead of
    /// spawning one: no cold start is timed, and the first call waits until `tools/list`
    /// names the tool (a gateway connects to its upstreams in the background). HTTP only.
    #[arg(long, value_name = "ADDR")]
    connect: Option<SocketAddr>,

    /// With --connect: a process whose CPU time and peak RSS are reported (the server under
    /// test first, then its helpers, e.g. a gateway's upstream). Repeatable.
    #[arg(long = "pid", value_name = "PID", requires = "connect")]
    pids: Vec<u32>,

    /// Extra HTTP request header, `Name: value`, on every request. Repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,

    /// Bearer token sent as `Authorization` on every HTTP request. Prefer the environment
    /// variable: a command line is visible to every user of the machine.
    #[arg(long, env = "BELAY_LOADGEN_BEARER", hide_env_values = true)]
    bearer: Option<String>,

    /// Put in front of `get_stock_price` in every call: a gateway's federated endpoint
    /// lists an upstream's tools under a prefix (`stock__`).
    #[arg(long, default_value = "")]
    tool_prefix: String,

    /// For a spawned HTTP server: poll `tools/list` until it names the tool before the first
    /// call, as --connect does (a server that connects to its upstreams in the background,
    /// e.g. `belay up`, answers before its tools are there). The cold start includes the wait.
    #[arg(long, conflicts_with = "connect")]
    wait_for_tool: bool,

    /// The server command; `{port}` is replaced by a free port for HTTP.
    #[arg(
        last = true,
        required_unless_present = "connect",
        conflicts_with = "connect"
    )]
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
    /// `tools/call` requests sent in the whole run (first call, warm-up, window), answered or
    /// not: what a gateway's audit log must hold for the run.
    #[serde(default)]
    pub(crate) calls_sent: u64,
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
    /// With --connect: since the process started, not since the run did.
    pub(crate) peak_rss_mib: f64,
    /// Sum of the processes' peak RSS, MiB.
    pub(crate) peak_rss_sum_mib: f64,
    /// Median cold start: spawn → initialize → first tools/call answered, ms.
    pub(crate) cold_start_ms: f64,
    /// Every cold start timed, ms.
    pub(crate) cold_start_samples_ms: Vec<f64>,
    /// CPU cores the server used during the window (CPU seconds / wall seconds), all its
    /// processes together.
    pub(crate) server_cpu_cores: f64,
    /// The same per process, in order (spawned servers, or the --pid list).
    #[serde(default)]
    pub(crate) process_cpu_cores: Vec<f64>,
    /// CPU cores the load generator used during the window.
    pub(crate) loadgen_cpu_cores: f64,
    /// CPU cores everything else on the machine used during the window: well above 0 means
    /// the numbers are disturbed.
    #[serde(default)]
    pub(crate) other_cpu_cores: f64,
    /// The server command (with --connect: `connect ADDR PATH`).
    pub(crate) command: Vec<String>,
}

/// The servers under load, their sessions, and what starting them measured.
struct Prepared {
    /// Spawned servers, stopped at the end (none with --connect).
    servers: Vec<Server>,
    /// Processes whose CPU and RSS are measured.
    pids: Vec<u32>,
    clients: Vec<Client>,
    /// stdio connections, held until the end: a stdio server exits when its stdin closes,
    /// and it must still be there to be measured.
    keep_open: Vec<Arc<StdioConn>>,
    version: String,
    cold_ms: Vec<f64>,
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

    /// The tool every call names.
    fn tool(&self) -> String {
        format!("{}{}", self.tool_prefix, mcp::TOOL)
    }

    /// Spawns the server and times spawn → initialize → initialized → first call answered.
    async fn cold_start(&self, counters: &Counters, extra: &Headers) -> anyhow::Result<Started> {
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
                    let mut session =
                        HttpSession::start(stream, &self.path, counters.id(), extra.clone())
                            .await?;
                    if self.wait_for_tool {
                        until_listed(&mut session, counters, &self.tool()).await?;
                    }
                    let version = session.version.clone();
                    (Client::Http(Box::new(session)), version)
                }
                None => {
                    let (stdin, stdout) = server.take_stdio()?;
                    let conn = StdioConn::new(stdin, stdout);
                    let version = conn.handshake(counters.id()).await?;
                    (Client::Stdio(Arc::new(conn)), version)
                }
            };
            first_call(&mut probe, counters, &self.tool()).await?;
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

/// Polls `tools/list` until it names `tool`. tools/list, unlike tools/call, is not audited:
/// polling it leaves no trace.
async fn until_listed(
    probe: &mut HttpSession,
    counters: &Counters,
    tool: &str,
) -> anyhow::Result<()> {
    loop {
        let id = counters.id();
        let listed = probe.request(mcp::list_tools(id), id).await?;
        if mcp::lists_tool(&listed, tool)? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls the tool once and checks the answer.
async fn first_call(client: &mut Client, counters: &Counters, tool: &str) -> anyhow::Result<()> {
    let (id, body, which) = counters.call(0, tool);
    let response = client.request(body, id).await?;
    mcp::check_price(&response, which).context("first tools/call")
}

/// Opens `n` MCP sessions at `addr`, each on its own connection.
async fn http_sessions(
    addr: SocketAddr,
    args: &RunArgs,
    counters: &Counters,
    extra: &Headers,
) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(args.sessions);
    for _ in 0..args.sessions {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let session = HttpSession::start(stream, &args.path, counters.id(), extra.clone()).await?;
        clients.push(Client::Http(Box::new(session)));
    }
    Ok(clients)
}

/// Spawns the server (timing its cold starts; the last one stays up) and opens the sessions.
async fn spawned(args: &RunArgs, counters: &Counters, extra: &Headers) -> anyhow::Result<Prepared> {
    let mut cold = Vec::new();
    let mut started = None;
    for _ in 0..args.cold_reps.max(1) {
        if let Some(previous) = started.take() {
            let Started { server, probe, .. } = previous;
            drop(probe);
            server.stop().await;
        }
        let s = args.cold_start(counters, extra).await?;
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
            clients = http_sessions(addr, args, counters, extra).await?;
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
                conn.handshake(counters.id()).await?;
                let conn = Arc::new(conn);
                keep_open.push(Arc::clone(&conn));
                clients.push(Client::Stdio(conn));
                servers.push(server);
            }
        }
    }
    let pids = servers.iter().map(|s| s.pid).collect();
    Ok(Prepared {
        servers,
        pids,
        clients,
        keep_open,
        version,
        cold_ms: cold,
    })
}

/// Opens the sessions on a server that is already running, once it lists the tool.
async fn attached(
    args: &RunArgs,
    addr: SocketAddr,
    counters: &Counters,
    extra: &Headers,
) -> anyhow::Result<Prepared> {
    anyhow::ensure!(
        args.transport == Transport::Http,
        "--connect loads a server over HTTP: use --transport http"
    );
    let deadline = Instant::now() + Duration::from_secs_f64(args.start_timeout);
    let tool = args.tool();
    let ready = async {
        let stream = connect_when_up(addr, deadline, || Ok(())).await?;
        let mut probe = HttpSession::start(stream, &args.path, counters.id(), extra.clone())
            .await
            .context("initialize")?;
        until_listed(&mut probe, counters, &tool).await?;
        let version = probe.version.clone();
        let mut probe = Client::Http(Box::new(probe));
        first_call(&mut probe, counters, &tool).await?;
        anyhow::Ok((probe, version))
    };
    let (probe, version) = tokio::time::timeout_at(TokioInstant::from_std(deadline), ready)
        .await
        .with_context(|| {
            format!(
                "http://{addr}{} did not list `{tool}` within {} s",
                args.path, args.start_timeout
            )
        })?
        .with_context(|| format!("http://{addr}{}", args.path))?;
    if let Client::Http(session) = probe {
        session.close().await.context("DELETE the first session")?;
    }
    Ok(Prepared {
        servers: Vec::new(),
        pids: args.pids.clone(),
        clients: http_sessions(addr, args, counters, extra).await?,
        keep_open: Vec::new(),
        version,
        cold_ms: Vec::new(),
    })
}

/// Performs one run.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<RunResult> {
    anyhow::ensure!(args.sessions >= 1, "--sessions must be at least 1");
    anyhow::ensure!(
        args.duration > 0.0 && args.warmup >= 0.0,
        "bad --duration/--warmup"
    );
    let counters = Counters::new();
    let extra = http::extra_headers(&args.headers, args.bearer.as_deref())?;
    let Prepared {
        servers,
        pids,
        clients,
        keep_open,
        version,
        cold_ms,
    } = match args.connect {
        Some(addr) => attached(&args, addr, &counters, &extra).await?,
        None => spawned(&args, &counters, &extra).await?,
    };

    // Closed loop: every session keeps exactly one request in flight.
    let tool: Arc<str> = args.tool().into();
    let from = Instant::now() + Duration::from_secs_f64(args.warmup);
    let window = Window {
        from,
        until: from + Duration::from_secs_f64(args.duration),
        timeout: Duration::from_secs_f64(args.timeout),
    };
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            tokio::spawn(load::worker(
                client,
                i as u64,
                Arc::clone(&counters),
                Arc::clone(&tool),
                window,
            ))
        })
        .collect();

    tokio::time::sleep_until(TokioInstant::from_std(window.from)).await;
    let server_cpu0 = cpu_by_process(&pids)?;
    let self_cpu0 = server::cpu_seconds("self")?;
    let machine0 = server::machine_busy_seconds()?;
    let wall0 = Instant::now();
    tokio::time::sleep_until(TokioInstant::from_std(window.until)).await;
    let server_cpu1 = cpu_by_process(&pids)?;
    let self_cpu1 = server::cpu_seconds("self")?;
    let machine1 = server::machine_busy_seconds()?;
    let wall = wall0.elapsed().as_secs_f64();
    let process_cpu: Vec<f64> = server_cpu1
        .iter()
        .zip(&server_cpu0)
        .map(|(after, before)| (after - before) / wall)
        .collect();
    let server_cpu: f64 = process_cpu.iter().sum();
    let loadgen_cpu = (self_cpu1 - self_cpu0) / wall;
    let other_cpu = ((machine1 - machine0) / wall - server_cpu - loadgen_cpu).max(0.0);
    // Now, while every session is still open: a stdio server exits once its stdin closes,
    // and a process that has exited has no VmHWM any more.
    let mut rss = Vec::new();
    for &pid in &pids {
        rss.push(server::peak_rss_kib(pid)?);
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
    let mut sorted_cold = cold_ms.clone();
    sorted_cold.sort_by(f64::total_cmp);
    let command = match args.connect {
        Some(addr) => vec!["connect".to_owned(), addr.to_string(), args.path.clone()],
        None => args.command.clone(),
    };
    #[allow(clippy::cast_precision_loss)]
    Ok(RunResult {
        server: args.name.clone(),
        transport: args.transport,
        sessions: args.sessions,
        stdio_mode: (args.transport == Transport::Stdio).then_some(args.stdio_mode),
        processes: rss.len(),
        protocol_version: version,
        requests,
        calls_sent: counters.calls.load(Ordering::Relaxed),
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
        cold_start_ms: sorted_cold
            .get(sorted_cold.len() / 2)
            .copied()
            .unwrap_or(0.0),
        cold_start_samples_ms: cold_ms,
        server_cpu_cores: server_cpu,
        process_cpu_cores: process_cpu,
        loadgen_cpu_cores: loadgen_cpu,
        other_cpu_cores: other_cpu,
        command,
    })
}

/// CPU seconds used so far by each process.
fn cpu_by_process(pids: &[u32]) -> anyhow::Result<Vec<f64>> {
    pids.iter()
        .map(|pid| server::cpu_seconds(&pid.to_string()))
        .collect()
}
