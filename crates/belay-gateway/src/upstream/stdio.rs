//! A stdio upstream: its process, and MCP messages as lines on its stdin and stdout.
//!
//! rmcp's child-process transport skips a line it cannot parse and drops one that is too
//! long, and carries on: the call the upstream failed to answer then waits for its timeout,
//! and nobody learns why. So the gateway reads the lines itself. Once the upstream has
//! answered its handshake, a line that is not a JSON-RPC message (the stdio transport allows
//! nothing else on stdout) or is longer than [`MAX_MESSAGE_BYTES`] ends the session with
//! that reason, and the process is killed rather than asked to stop. Before, a line that
//! is not JSON (a start-up banner) is logged and skipped, as other clients do. When stdout
//! closes, the process's exit status is the reason. Stderr goes to the log, line by line,
//! each line cut at [`MAX_STDERR_LINE_BYTES`].

use std::{collections::BTreeMap, io, path::Path, process::Stdio, sync::Arc, time::Duration};

use futures::StreamExt;
use rmcp::{
    RoleClient,
    model::{ClientJsonRpcMessage, JsonRpcMessage, ServerJsonRpcMessage},
    transport::Transport,
};
use tokio::{
    io::AsyncWriteExt,
    process::{Child, ChildStderr, ChildStdin, ChildStdout, Command},
};
use tokio_util::codec::{
    AnyDelimiterCodec, AnyDelimiterCodecError, FramedRead, LinesCodec, LinesCodecError,
};

use super::{checked::excerpt, conduct::Conduct};

/// The longest message an upstream may write, as rmcp's transports allow (16 MiB).
pub(crate) const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The longest stderr line logged whole.
const MAX_STDERR_LINE_BYTES: usize = 8 * 1024;

/// How long a process whose stdout closed has to report its exit status.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// How long a process asked to stop has (its stdin closed, then SIGTERM) before the next step.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// The transport of a stdio upstream (see the module).
pub(crate) struct StdioTransport {
    child: Child,
    /// Shared with the writes in flight; `None` once closed.
    stdin: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    stdout: FramedRead<ChildStdout, LinesCodec>,
    conduct: Arc<Conduct>,
    /// It has answered a request (its handshake): from then on, stdout holds messages only.
    answered: bool,
    /// Its exit status has been collected.
    exited: bool,
}

/// What to start: the `stdio` transport of an upstream's spec.
pub(crate) struct Program<'a> {
    pub(crate) command: &'a str,
    pub(crate) args: &'a [String],
    pub(crate) env: &'a BTreeMap<String, String>,
    pub(crate) cwd: Option<&'a Path>,
}

impl StdioTransport {
    /// Starts `program` for upstream `upstream`; the transport and the process id.
    pub(crate) fn spawn(
        upstream: &str,
        program: &Program<'_>,
        conduct: Arc<Conduct>,
    ) -> io::Result<(Self, Option<u32>)> {
        let mut command = Command::new(program.command);
        command
            .args(program.args)
            .envs(program.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(cwd) = program.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn()?;
        let missing = |what: &str| io::Error::other(format!("its {what} is not a pipe"));
        let stdin = child.stdin.take().ok_or_else(|| missing("stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| missing("stdout"))?;
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(log_stderr(upstream.to_owned(), stderr));
        }
        let pid = child.id();
        let transport = Self {
            child,
            stdin: Arc::new(tokio::sync::Mutex::new(Some(stdin))),
            stdout: FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_MESSAGE_BYTES)),
            conduct,
            answered: false,
            exited: false,
        };
        Ok((transport, pid))
    }

    /// Ends the session for `why`.
    fn broke(&self, why: String) -> Option<ServerJsonRpcMessage> {
        self.conduct.end(why);
        None
    }

    /// Stdout closed: the exit status (or that it is still running) is the reason.
    async fn closed(&mut self) {
        let why = match tokio::time::timeout(EXIT_WAIT, self.child.wait()).await {
            Ok(Ok(status)) => {
                self.exited = true;
                format!("its process exited ({status})")
            }
            _ => "it closed its stdout".to_owned(),
        };
        self.conduct.end(why);
    }

    /// Stops the process: its stdin closed (the MCP way to ask), then SIGTERM, then
    /// SIGKILL, each after [`STOP_WAIT`]; at once SIGKILL if it broke the protocol, or if
    /// a write to it is stuck (it reads nothing).
    async fn stop(&mut self) -> io::Result<()> {
        let asked = match self.stdin.try_lock() {
            Ok(mut stdin) => stdin.take().is_some(),
            Err(_) => false,
        };
        if self.exited {
            return Ok(());
        }
        if asked && self.conduct.ended().is_none() {
            if self.waited(STOP_WAIT).await {
                return Ok(());
            }
            #[cfg(unix)]
            if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
                use nix::sys::signal::{Signal, kill};
                let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
                if self.waited(STOP_WAIT).await {
                    return Ok(());
                }
            }
        }
        self.child.kill().await
    }

    /// Whether the process exits within `limit`.
    async fn waited(&mut self, limit: Duration) -> bool {
        matches!(
            tokio::time::timeout(limit, self.child.wait()).await,
            Ok(Ok(_))
        )
    }
}

/// Whether `line` (JSON) is a notification: something rmcp does not know, which every SDK
/// ignores.
fn is_notification(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|value| {
        value.get("id").is_none() && value.get("method").is_some_and(|m| m.is_string())
    })
}

impl Transport<RoleClient> for StdioTransport {
    type Error = io::Error;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let stdin = self.stdin.clone();
        // The `tasks` capability rmcp's `initialize` cannot carry (see `crate::tasks`).
        let item = crate::tasks::wire::declare(item);
        async move {
            let mut line = serde_json::to_vec(&item).map_err(io::Error::other)?;
            line.push(b'\n');
            let mut stdin = stdin.lock().await;
            let stdin = stdin.as_mut().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotConnected, "its stdin is closed")
            })?;
            stdin.write_all(&line).await?;
            stdin.flush().await
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            let line = match self.stdout.next().await {
                Some(Ok(line)) => line,
                Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                    return self.broke(format!(
                        "it wrote a message of more than {MAX_MESSAGE_BYTES} bytes on stdout"
                    ));
                }
                Some(Err(LinesCodecError::Io(e))) if e.kind() == io::ErrorKind::InvalidData => {
                    return self.broke("it wrote bytes that are not UTF-8 on stdout".into());
                }
                Some(Err(LinesCodecError::Io(e))) => {
                    return self.broke(format!("its stdout failed ({e})"));
                }
                None => {
                    self.closed().await;
                    return None;
                }
            };
            let line = line.strip_prefix('\u{feff}').unwrap_or(&line);
            if line.trim().is_empty() {
                continue;
            }
            // A task-augmented question, which rmcp's types would strip, is made whole for
            // the relay (see `crate::tasks`).
            let diverted = crate::tasks::wire::divert(line);
            let line = diverted.as_deref().unwrap_or(line);
            let error = match serde_json::from_str::<ServerJsonRpcMessage>(line) {
                Ok(message) => {
                    if matches!(
                        message,
                        JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_)
                    ) {
                        self.answered = true;
                    }
                    return Some(message);
                }
                Err(e) => e,
            };
            let json = !(error.is_syntax() || error.is_eof());
            if json && is_notification(line) {
                tracing::debug!(%error, "a notification the gateway does not know, ignored");
                continue;
            }
            let what = if json {
                "a line that is not a JSON-RPC message"
            } else {
                "a line that is not JSON"
            };
            let line = excerpt(line);
            if !self.answered {
                tracing::warn!(upstream = %self.conduct.upstream(), "it wrote {what} on stdout before its handshake, skipped: `{line}`");
                continue;
            }
            return self.broke(format!(
                "it wrote {what} on stdout (`{line}`); stdout carries MCP messages only, logs go to stderr"
            ));
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.stop()
    }
}

/// Forwards a stdio upstream's stderr to our log, line by line, tagged with its name.
async fn log_stderr(upstream: String, stderr: ChildStderr) {
    let codec =
        AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), Vec::new(), MAX_STDERR_LINE_BYTES);
    let mut lines = FramedRead::new(stderr, codec);
    // After a line too long, the reader reports one end that is not one; it reads on.
    let mut cut = false;
    loop {
        match lines.next().await {
            Some(Ok(line)) => {
                cut = false;
                let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(&line));
                tracing::info!(upstream = %upstream, "{line}");
            }
            Some(Err(AnyDelimiterCodecError::MaxChunkLengthExceeded)) => {
                cut = true;
                tracing::info!(upstream = %upstream, "(a stderr line of more than {MAX_STDERR_LINE_BYTES} bytes, not shown)");
            }
            None if cut => cut = false,
            Some(Err(_)) | None => return,
        }
    }
}
