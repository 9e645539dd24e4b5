//! The server under test: spawned from a command line, measured through /proc.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A spawned server process; killed when dropped.
pub(crate) struct Server {
    child: Child,
    /// Its process id, for /proc.
    pub(crate) pid: u32,
    log: Option<PathBuf>,
}

/// Where the server speaks MCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// stdin/stdout are the MCP channel.
    Stdio,
    /// stdin/stdout are unused; the server listens on a port.
    Http,
}

impl Server {
    /// Spawns `command` (with `{port}` replaced by `port`), its stderr (and, for HTTP, its
    /// stdout) appended to `log`.
    pub(crate) fn spawn(
        command: &[String],
        port: Option<u16>,
        channel: Channel,
        log: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let (program, args) = command.split_first().context("empty server command")?;
        let mut cmd = Command::new(program);
        for arg in args {
            match port {
                Some(port) => cmd.arg(arg.replace("{port}", &port.to_string())),
                None => cmd.arg(arg),
            };
        }
        let sink = || -> anyhow::Result<Stdio> {
            Ok(match log {
                Some(path) => File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("open {}", path.display()))?
                    .into(),
                None => Stdio::null(),
            })
        };
        match channel {
            Channel::Stdio => cmd.stdin(Stdio::piped()).stdout(Stdio::piped()),
            Channel::Http => cmd.stdin(Stdio::null()).stdout(sink()?),
        };
        cmd.stderr(sink()?).kill_on_drop(true);
        let child = cmd.spawn().with_context(|| format!("spawn {program}"))?;
        let pid = child.id().context("the server exited at once")?;
        Ok(Self {
            child,
            pid,
            log: log.map(Path::to_path_buf),
        })
    }

    /// The child's stdin and stdout (stdio servers; once).
    pub(crate) fn take_stdio(
        &mut self,
    ) -> anyhow::Result<(tokio::process::ChildStdin, tokio::process::ChildStdout)> {
        let stdin = self.child.stdin.take().context("no stdin pipe")?;
        let stdout = self.child.stdout.take().context("no stdout pipe")?;
        Ok((stdin, stdout))
    }

    /// An error if the server has exited.
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = match &self.log {
                Some(path) => format!(" (its log: {})", path.display()),
                None => String::new(),
            };
            bail!("the server exited with {status}{log}");
        }
        Ok(())
    }

    /// Stops the server (SIGKILL: its measurements are already taken) and reaps it.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Peak resident set size so far (VmHWM) of process `pid`, in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")
}

/// CPU time (user + system, all threads) used so far by `/proc/<pid>` (`self` for this process), in seconds.
pub(crate) fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    // Fields after the parenthesised command name start at field 3 (state); utime and stime
    // are fields 14 and 15.
    let rest = stat.rsplit_once(')').context("malformed /proc/PID/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .context("short /proc/PID/stat")?
            .parse()
            .context("malformed /proc/PID/stat")
    };
    let total = ticks(11)? + ticks(12)?;
    // Precision loss is irrelevant at these magnitudes.
    #[allow(clippy::cast_precision_loss)]
    Ok(total as f64 / clock_ticks_per_second())
}

/// CPU time all processes of the machine have used so far (user, system, interrupts, steal),
/// in seconds, from /proc/stat; with [`cpu_seconds`] it tells whether something else was busy.
pub(crate) fn machine_busy_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("malformed /proc/stat")?;
    // user nice system idle iowait irq softirq steal …: all but idle and iowait are busy.
    let busy: u64 = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    #[allow(clippy::cast_precision_loss)]
    Ok(busy as f64 / clock_ticks_per_second())
}

/// USER_HZ (almost always 100), from `getconf CLK_TCK`.
fn clock_ticks_per_second() -> f64 {
    static HZ: OnceLock<f64> = OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A port that was free a moment ago (the server binds it next).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}
