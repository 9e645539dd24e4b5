//! One shutdown signal for the whole process.
//!
//! Servers take a [`CancellationToken`] instead of listening for signals themselves, so a
//! test, the gateway or `belay up` can stop them without sending the process a signal.

use tokio_util::sync::CancellationToken;

/// Returns a token that is cancelled on the first SIGINT (Ctrl-C) or SIGTERM.
///
/// Must be called inside a Tokio runtime. A second signal is left to the default handler
/// only after the first has been seen, so a stuck shutdown can still be interrupted.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received, stopping");
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        // Without a SIGTERM handler Ctrl-C still works, which is the common case.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
