//! [`Hub`]: what every endpoint and session of one gateway shares (upstreams, the chain,
//! connected clients and listen streams), and telling them when lists change.
#![allow(deprecated)] // Logging is deprecated by SEP-2577 but still relayed.

use std::sync::Mutex;

use rmcp::{RoleServer, model::LoggingLevel, service::Peer};

use crate::{chain::Chain, listen::Listeners, roster::Roster, upstream::Upstream};

/// State shared by every endpoint and session.
pub(crate) struct Hub {
    /// Every upstream, retired ones included (see [`Roster`]).
    pub(crate) upstreams: Roster,
    pub(crate) chain: Chain,
    pub(crate) page_size: usize,
    /// Connected downstream sessions, told when an upstream's catalog changes.
    pub(crate) clients: Mutex<Vec<Peer<RoleServer>>>,
    /// Open `subscriptions/listen` streams (2026-07-28 clients), told the same.
    pub(crate) listeners: Listeners,
    /// The `/mcp` sessions that asked for logs, oldest first: an upstream a reload adds
    /// logs to them too (see [`Hub::logs_asked`]).
    pub(crate) federated_logs: Mutex<Vec<LogsAsked>>,
}

/// A federated session's `logging/setLevel`.
#[derive(Clone)]
pub(crate) struct LogsAsked {
    pub(crate) session: Option<String>,
    pub(crate) peer: Peer<RoleServer>,
    pub(crate) level: LoggingLevel,
}

impl Hub {
    /// Remembers that a `/mcp` session asked for logs at `level` (its last word counts).
    pub(crate) fn remember_logs_asked(&self, asked: LogsAsked) {
        let mut all = self
            .federated_logs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        all.retain(|a| {
            !a.peer.is_transport_closed() && (a.session.is_none() || a.session != asked.session)
        });
        all.push(asked);
    }

    /// Has `upstream`, which a reload adds, log to the `/mcp` sessions that asked for logs,
    /// at the level the latest of them asked for (the level of a shared upstream session
    /// is the last one set, as with `logging/setLevel` itself).
    pub(crate) fn logs_asked(&self, upstream: &Upstream) {
        let all = self
            .federated_logs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for asked in all.iter().filter(|a| !a.peer.is_transport_closed()) {
            upstream.listen_to_logs(asked.session.clone(), asked.peer.clone(), asked.level);
            upstream.remember_level(asked.level);
        }
    }

    /// Tells every connected client that lists changed; forgets closed sessions.
    pub(crate) async fn notify_list_changed(&self) {
        let clients: Vec<_> = match self.clients.lock() {
            Ok(mut clients) => {
                clients.retain(|p| !p.is_transport_closed());
                clients.clone()
            }
            Err(_) => return,
        };
        for peer in clients {
            let _ = peer.notify_tool_list_changed().await;
            let _ = peer.notify_prompt_list_changed().await;
            let _ = peer.notify_resource_list_changed().await;
        }
    }
}
