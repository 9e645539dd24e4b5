//! The closed loop every session runs, and the statistics of what it saw.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::HttpSession;
use crate::mcp;
use crate::stdio::StdioConn;

/// A session under load.
pub(crate) enum Client {
    /// Boxed: an HTTP session is large, and the two kinds travel together in one vector.
    Http(Box<HttpSession>),
    Stdio(Arc<StdioConn>),
}

impl Client {
    pub(crate) async fn request(&mut self, body: String, id: u64) -> anyhow::Result<Value> {
        match self {
            Self::Http(session) => session.request(body, id).await,
            Self::Stdio(conn) => conn.request(body, id).await,
        }
    }
}

/// Counters shared by every session of a run.
pub(crate) struct Counters {
    /// JSON-RPC ids: every request of the run has its own.
    pub(crate) ids: AtomicU64,
    /// `tools/call` requests sent, answered or not. A gateway audits each one, so its audit
    /// log must hold this many records for the run.
    pub(crate) calls: AtomicU64,
}

impl Counters {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            ids: AtomicU64::new(1),
            calls: AtomicU64::new(0),
        })
    }

    /// The next JSON-RPC id.
    pub(crate) fn id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// A `tools/call` of `tool` for the `n`-th ticker, counted as sent: its id, body and the
    /// ticker's index.
    pub(crate) fn call(&self, n: u64, tool: &str) -> (u64, String, usize) {
        let id = self.id();
        let (body, which) = mcp::call(id, n, tool);
        self.calls.fetch_add(1, Ordering::Relaxed);
        (id, body, which)
    }
}

/// What one worker saw in the measured window.
#[derive(Default)]
pub(crate) struct WorkerStats {
    pub(crate) latencies_ns: Vec<u64>,
    pub(crate) errors: u64,
    pub(crate) error_samples: Vec<String>,
}

impl WorkerStats {
    fn error(&mut self, err: &anyhow::Error) {
        self.errors += 1;
        if self.error_samples.len() < 3 {
            self.error_samples.push(format!("{err:#}"));
        }
    }
}

/// When a worker measures and how long it waits for one answer.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub(crate) from: Instant,
    pub(crate) until: Instant,
    pub(crate) timeout: Duration,
}

/// One session's closed loop: send, wait for the answer, check it, repeat until the window
/// closes. Only calls that start inside the window are recorded.
pub(crate) async fn worker(
    mut client: Client,
    index: u64,
    counters: Arc<Counters>,
    tool: Arc<str>,
    window: Window,
) -> WorkerStats {
    let mut stats = WorkerStats::default();
    // Sessions start on different tickers so concurrent calls differ.
    let mut n = index;
    let timeout = window.timeout;
    loop {
        let start = Instant::now();
        if start >= window.until {
            break;
        }
        let (id, body, which) = counters.call(n, &tool);
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
            Ok(()) if start >= window.from => {
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

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
pub(crate) fn percentile_ms(sorted_ns: &[u64], p: f64) -> f64 {
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

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ns: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert!((percentile_ms(&ns, 0.5) - 50.0).abs() < 1e-9);
        assert!((percentile_ms(&ns, 0.99) - 99.0).abs() < 1e-9);
        assert!((percentile_ms(&[7_000_000], 0.99) - 7.0).abs() < 1e-9);
        assert!(percentile_ms(&[], 0.5).abs() < 1e-9);
    }

    #[test]
    fn every_call_gets_a_fresh_id_and_is_counted() {
        let counters = Counters::new();
        let (a, _, _) = counters.call(0, "t");
        let (b, body, _) = counters.call(1, "t");
        assert_ne!(a, b);
        assert!(body.contains(&format!(r#""id":{b}"#)), "{body}");
        let _ = counters.id();
        assert_eq!(counters.calls.load(Ordering::Relaxed), 2);
    }
}
