//! One shutdown signal for the whole process.
//!
//! Servers take a [`CancellationToken`] instead of listening for signals themselves, so a
//! test, the gateway or `belay up` can stop them without sending the process a signal.

use tokio_util::sync::CancellationToken;

/// Returns a token that is cancelled on the first SIGINT (Ctrl-C) or SIGTERM.
///
/// Must be called inside a Tokio runtime. The handlers are installed before this returns,
/// so a signal that arrives at once (a supervisor stopping a server right after it said it
/// was listening) is seen even on a single-threaded runtime that has not yet run the task
/// waiting for it. A second signal is left to the default handler only after the first
/// has been seen, so a stuck shutdown can still be interrupted.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    let signals = Signals::install();
    tokio::spawn(async move {
        signals.wait().await;
        tracing::info!("shutdown signal received, stopping");
        trigger.cancel();
    });
    token
}

/// SIGINT and SIGTERM, listened to from the moment this is built.
#[cfg(unix)]
struct Signals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    async fn wait(mut self) {
        async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                // No handler could be installed: only the other signal stops us.
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = recv(&mut self.interrupt) => {}
            () = recv(&mut self.terminate) => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Self
    }

    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
