//! `subscriptions/listen` (2026-07-28): the upstreams' list changes, to the clients that
//! listen for them.
//!
//! Handshake-era sessions are told of changes with notifications on their session
//! ([`crate::server::Hub::notify_list_changed`]); a 2026-07-28 client has no session, so it
//! opens a listen stream instead, asking for the kinds it wants. Each change an upstream
//! announces (and each reconnect, announced as a tools change) is broadcast here, and
//! every stream passes on the kinds it accepted, for the upstreams its endpoint serves.

use std::sync::Arc;

use rmcp::{
    ErrorData,
    model::{ServerCapabilities, SubscriptionFilter},
    service::SubscriptionContext,
};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::relay::Change;

/// The broadcast of list changes: (upstream name, what changed).
pub(crate) struct Listeners(broadcast::Sender<(Arc<str>, Change)>);

impl Default for Listeners {
    fn default() -> Self {
        // Changes are rare; a stream that still lags announces every kind (see `serve`).
        Self(broadcast::channel(64).0)
    }
}

impl Listeners {
    /// Tells every open stream that `upstream`'s `change` happened.
    pub(crate) fn announce(&self, upstream: &str, change: Change) {
        // No receiver means no open stream, which is not an error.
        let _ = self.0.send((upstream.into(), change));
    }

    /// The part of `requested` a stream gets: list changes the gateway declares. Resource
    /// updates are not relayed to listen streams (handshake sessions get them through
    /// `resources/subscribe`), so none are accepted.
    pub(crate) fn accepted(
        requested: &SubscriptionFilter,
        capabilities: &ServerCapabilities,
    ) -> SubscriptionFilter {
        let mut accepted = requested.supported_by(capabilities);
        accepted.resource_subscriptions = None;
        accepted
    }

    /// Serves one stream until the client closes it: the changes of the upstreams for
    /// which `in_scope` holds, of the kinds the stream accepted.
    pub(crate) async fn serve(
        &self,
        in_scope: impl Fn(&str) -> bool,
        context: SubscriptionContext,
    ) -> Result<(), ErrorData> {
        let mut changes = self.0.subscribe();
        let accepted = context.accepted().clone();
        let wants = |change: Change| {
            let kind = match change {
                Change::Tools => accepted.tools_list_changed,
                Change::Prompts => accepted.prompts_list_changed,
                Change::Resources => accepted.resources_list_changed,
            };
            kind == Some(true)
        };
        loop {
            let received = tokio::select! {
                () = context.cancelled() => return Ok(()),
                received = changes.recv() => received,
            };
            // A lagging stream lost changes it cannot name, so it announces every kind.
            let changed = match received {
                Ok((upstream, change)) if in_scope(&upstream) => vec![change],
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {
                    vec![Change::Tools, Change::Prompts, Change::Resources]
                }
                Err(RecvError::Closed) => return Ok(()),
            };
            for change in changed.into_iter().filter(|c| wants(*c)) {
                let sink = context.sink();
                let sent = match change {
                    Change::Tools => sink.notify_tool_list_changed().await,
                    Change::Prompts => sink.notify_prompt_list_changed().await,
                    Change::Resources => sink.notify_resource_list_changed().await,
                };
                if let Err(e) = sent {
                    tracing::debug!(error = %e, "listen stream closed while notifying");
                    return Ok(());
                }
            }
        }
    }
}
