//! One MCP session over stdio: newline-delimited JSON-RPC on a child's stdin/stdout, with any
//! number of requests in flight, answers matched to their requests by id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::mcp;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A stdio connection to one server process; shared by the tasks that send on it.
pub(crate) struct StdioConn {
    stdin: tokio::sync::Mutex<ChildStdin>,
    pending: Pending,
    reader: JoinHandle<()>,
}

impl Drop for StdioConn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl StdioConn {
    /// Starts reading the server's stdout; answers are handed to whoever waits on their id.
    pub(crate) fn new(stdin: ChildStdin, stdout: ChildStdout) -> Self {
        let pending: Pending = Arc::default();
        let reader = tokio::spawn(read_loop(stdout, Arc::clone(&pending)));
        Self {
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
            reader,
        }
    }

    /// Performs the MCP handshake and returns the protocol version the server chose.
    pub(crate) async fn handshake(&self, init_id: u64) -> anyhow::Result<String> {
        let response = self
            .request(mcp::initialize(init_id), init_id)
            .await
            .context("initialize")?;
        let version = mcp::negotiated_version(&response)?;
        self.send(mcp::initialized()).await?;
        Ok(version)
    }

    /// Sends one request and waits for the response with `id`.
    pub(crate) async fn request(&self, line: String, id: u64) -> anyhow::Result<Value> {
        let (tx, rx) = oneshot::channel();
        if self.lock().insert(id, tx).is_some() {
            bail!("id {id} is already in flight");
        }
        if let Err(err) = self.send(line).await {
            self.lock().remove(&id);
            return Err(err);
        }
        rx.await
            .context("the server closed stdout before answering")
    }

    /// Writes one message (and its newline) in a single write.
    async fn send(&self, mut line: String) -> anyhow::Result<()> {
        line.push('\n');
        let mut stdin = self.stdin.lock().await;
        stdin
            .write_all(line.as_bytes())
            .await
            .context("write to the server's stdin")?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Value>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn read_loop(stdout: ChildStdout, pending: Pending) {
    let mut lines = BufReader::with_capacity(64 * 1024, stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue; // not JSON-RPC; a conforming server writes nothing else to stdout
        };
        // Server-to-client requests and notifications carry `method`; only responses count.
        if message.get("method").is_some() {
            continue;
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let waiter = pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if let Some(tx) = waiter {
            let _ = tx.send(message);
        }
    }
    // EOF: dropping the senders wakes every waiter with an error.
    pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}
