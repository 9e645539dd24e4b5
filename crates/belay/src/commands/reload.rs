//! Reloading a running gateway's configuration: on SIGHUP, and when the file changes.
//!
//! The file is polled (its modification time and length) rather than watched with inotify:
//! editors replace files in ways that lose watches, and a delay of a poll interval
//! (`[gateway] reload_poll_ms`, two seconds by default) is fine for a config change. A reload that fails keeps the running configuration and logs why.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use belay_gateway::{Gateway, GatewaySpec};
use tokio_util::sync::CancellationToken;

use crate::config::BelayConfig;

/// What identifies a version of the file: modification time and length.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reloads `gateway` from `file` (re-read as a whole belay.toml, env overrides included,
/// then turned into the gateway's spec by `spec_of`) on SIGHUP and whenever the file
/// changes (checked every `poll`), until `shutdown`. Without a file, SIGHUP reloads the
/// environment overrides. `spec_of` may ask elsewhere (`[gateway] registry`), so it is
/// async. Returns the same reload for the console's button.
pub(crate) fn watch(
    gateway: Gateway,
    file: Option<PathBuf>,
    poll: Duration,
    spec_of: impl Fn(BelayConfig) -> SpecFuture + Send + Sync + 'static,
    shutdown: CancellationToken,
) -> belay_console::Reload {
    let spec_of: Arc<SpecOf> = Arc::new(spec_of);
    let on_demand = {
        let (gateway, file, spec_of) = (gateway.clone(), file.clone(), spec_of.clone());
        let reload: belay_console::Reload = Arc::new(move || {
            let (gateway, file, spec_of) = (gateway.clone(), file.clone(), spec_of.clone());
            Box::pin(async move {
                apply(&gateway, file.as_deref(), &*spec_of, "the console")
                    .await
                    .map_err(|e| format!("{e:#}"))
            })
        });
        reload
    };
    tokio::spawn(async move {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload on file change only");
                None
            }
        };
        let mut last = file.as_deref().and_then(stamp);
        let mut poll = tokio::time::interval(poll);
        loop {
            let why = tokio::select! {
                () = shutdown.cancelled() => return,
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => "SIGHUP",
                _ = poll.tick() => {
                    let now = file.as_deref().and_then(stamp);
                    if now == last { continue; }
                    last = now;
                    "the file changed"
                }
            };
            let _ = apply(&gateway, file.as_deref(), &*spec_of, why).await;
        }
    });
    on_demand
}

/// How the gateway's spec is worked out from a loaded belay.toml.
type SpecOf = dyn Fn(BelayConfig) -> SpecFuture + Send + Sync;

/// What `spec_of` returns: the gateway's spec, worked out later.
pub(crate) type SpecFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<GatewaySpec>> + Send>>;

/// Reloads once; what was applied, or why nothing was (both logged).
async fn apply(
    gateway: &Gateway,
    file: Option<&Path>,
    spec_of: &SpecOf,
    why: &str,
) -> anyhow::Result<String> {
    let shown = file.map_or_else(|| "the environment".into(), |f| f.display().to_string());
    let outcome = match BelayConfig::load(file) {
        Ok(config) => spec_of(config).await,
        Err(e) => Err(e),
    }
    .and_then(|spec| Ok(gateway.reload(&spec)?));
    match outcome {
        Ok(report) => {
            tracing::info!(config = %shown, trigger = why, "configuration reloaded: {report}");
            Ok(report.to_string())
        }
        Err(e) => {
            tracing::error!(
                config = %shown, trigger = why,
                "configuration NOT reloaded, the running one stays: {e:#}"
            );
            Err(e)
        }
    }
}
