//! Who follows an upstream outside any call, and how what it says there reaches them.
//!
//! * **Resource updates.** A caller follows a resource with `resources/subscribe` (a
//!   handshake-era session) or by naming it in `subscriptions/listen` (a 2026-07-28 caller,
//!   who has no session). Both are followers of one registry per upstream: the upstream is
//!   subscribed to a URI once, when its first follower comes, and unsubscribed when the last
//!   one goes (unsubscribes, ends its stream, or its session closes). Its
//!   `notifications/resources/updated` reaches each follower in its era: a notification on a
//!   session, or on a listen stream tagged with that stream's subscription id.
//! * **Logs that belong to no call.** A log message the upstream sends while none of the
//!   gateway's calls is in flight on that connection (server-everything's simulated logging,
//!   a server's background work) goes to every handshake-era session that asked for logs
//!   with `logging/setLevel` on an endpoint serving the upstream (its own, or the federated
//!   `/mcp`), at or above the level that session asked for. A session that never asked gets
//!   none: the upstream's session is shared, so these lines are not the session's own
//!   business. A 2026-07-28 caller gets none either: the specification makes
//!   `notifications/message` request-scoped and forbids it on a `subscriptions/listen`
//!   stream. (Which messages belong to a call is decided as they arrive: see
//!   [`crate::arrivals`].)
#![allow(deprecated)] // Logging and resources/subscribe are deprecated by SEP-2577 but still served.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use belay_mcp::era::log_wanted;
use rmcp::{
    RoleServer,
    model::{LoggingLevel, LoggingMessageNotificationParam, ResourceUpdatedNotificationParam},
    service::{Peer, SubscriptionSendError, SubscriptionSink},
};

/// Who follows a resource, to tell followers apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Follower {
    /// A handshake-era session, by its id (a legacy SSE session's is prefixed `sse:`).
    Session(Option<String>),
    /// A 2026-07-28 caller's `subscriptions/listen` stream, by a number of its own.
    Stream(u64),
}

/// Where a follower is told.
#[derive(Clone)]
pub(crate) enum Channel {
    /// A notification on the session.
    Session(Peer<RoleServer>),
    /// A notification on the listen stream, with its subscription id.
    Stream(StreamSlot),
}

/// A listen stream's end of its resource updates. Its resources are followed before rmcp
/// opens the stream ([`crate::listen::follow_first`]): updates that come before then wait
/// here, once per URI (an update names only its URI), and go out as it opens.
#[derive(Clone, Default)]
pub(crate) struct StreamSlot(Arc<Mutex<Slot>>);

enum Slot {
    Opening(BTreeSet<String>),
    Open(SubscriptionSink),
    Closed,
}

impl Default for Slot {
    fn default() -> Self {
        Self::Opening(BTreeSet::new())
    }
}

impl StreamSlot {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stream is open on `sink`: what waited goes out, and from now on at once.
    pub(crate) async fn open(&self, sink: SubscriptionSink) {
        let waited = match std::mem::replace(&mut *self.lock(), Slot::Open(sink.clone())) {
            Slot::Opening(waited) => waited,
            Slot::Open(_) | Slot::Closed => BTreeSet::new(),
        };
        for uri in waited {
            if let Err(e) = sink.notify_resource_updated(uri).await {
                tracing::debug!(error = %e, "update not delivered");
            }
        }
    }

    /// The stream ended: nothing more goes to it.
    pub(crate) fn close(&self) {
        *self.lock() = Slot::Closed;
    }

    /// Passes on an update of `uri`; false if the stream is gone.
    async fn updated(&self, uri: &str) -> bool {
        let sink = match &mut *self.lock() {
            Slot::Opening(waiting) => {
                waiting.insert(uri.to_owned());
                return true;
            }
            Slot::Open(sink) => sink.clone(),
            Slot::Closed => return false,
        };
        match sink.notify_resource_updated(uri.to_owned()).await {
            Ok(()) => true,
            Err(SubscriptionSendError::SubscriptionClosed) => false,
            Err(e) => {
                tracing::debug!(error = %e, "update not delivered");
                true
            }
        }
    }
}

impl Channel {
    fn closed(&self) -> bool {
        match self {
            Self::Session(peer) => peer.is_transport_closed(),
            // A stream that ended is found out when sending to it fails.
            Self::Stream(_) => false,
        }
    }

    /// Tells of `update`; false if the follower is gone.
    async fn updated(&self, update: &ResourceUpdatedNotificationParam) -> bool {
        match self {
            Self::Session(peer) => match peer.notify_resource_updated(update.clone()).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(error = %e, "update not delivered");
                    !peer.is_transport_closed()
                }
            },
            Self::Stream(slot) => slot.updated(&update.uri).await,
        }
    }
}

struct Subscriber {
    who: Follower,
    channel: Channel,
}

/// A handshake-era session that asked for logs.
struct LogListener {
    session: Option<String>,
    peer: Peer<RoleServer>,
    level: LoggingLevel,
}

/// The followers of one upstream. It outlives connections: subscriptions are renewed
/// after a reconnect (`Upstream::renew`).
#[derive(Clone)]
pub(crate) struct Followers(Arc<Inner>);

struct Inner {
    resources: Mutex<HashMap<String, Vec<Subscriber>>>,
    logs: Mutex<Vec<LogListener>>,
    /// Held while the upstream is told of a subscription change, so that it is told once
    /// per URI: subscribed for the first follower, unsubscribed after the last.
    turn: tokio::sync::Mutex<()>,
    /// How long the upstream may take to answer an unsubscribe the gateway sends on its
    /// own (the last follower's session closed): the upstream's call timeout.
    answer_within: Duration,
}

impl Followers {
    /// Nobody yet; the upstream answers within `answer_within`.
    pub(crate) fn new(answer_within: Duration) -> Self {
        Self(Arc::new(Inner {
            resources: Mutex::default(),
            logs: Mutex::default(),
            turn: tokio::sync::Mutex::new(()),
            answer_within,
        }))
    }

    /// Waits for the turn to change what the upstream is subscribed to.
    pub(crate) async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.turn.lock().await
    }

    /// How long the upstream may take to answer an unsubscribe.
    pub(crate) fn answer_within(&self) -> Duration {
        self.0.answer_within
    }

    fn resources(&self) -> MutexGuard<'_, HashMap<String, Vec<Subscriber>>> {
        self.0.resources.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn logs(&self) -> MutexGuard<'_, Vec<LogListener>> {
        self.0.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether anyone (still connected) follows `uri`.
    pub(crate) fn is_followed(&self, uri: &str) -> bool {
        let mut resources = self.resources();
        let Some(subscribers) = resources.get_mut(uri) else {
            return false;
        };
        subscribers.retain(|s| !s.channel.closed());
        !subscribers.is_empty()
    }

    /// `who` follows `uri`, told on `channel` (once, however often it asks).
    pub(crate) fn add(&self, uri: &str, who: Follower, channel: Channel) {
        let mut resources = self.resources();
        let subscribers = resources.entry(uri.to_owned()).or_default();
        subscribers.retain(|s| s.who != who && !s.channel.closed());
        subscribers.push(Subscriber { who, channel });
    }

    /// `who` no longer follows `uri`; true when it was the last, so the upstream
    /// subscription can go too.
    pub(crate) fn remove(&self, uri: &str, who: &Follower) -> bool {
        let mut resources = self.resources();
        let Some(subscribers) = resources.get_mut(uri) else {
            return false;
        };
        let before = subscribers.len();
        subscribers.retain(|s| s.who != *who && !s.channel.closed());
        let last = subscribers.is_empty();
        if last {
            resources.remove(uri);
        }
        last && before > 0
    }

    /// Every URI followed, to subscribe again after a reconnect.
    pub(crate) fn uris(&self) -> Vec<String> {
        self.resources().keys().cloned().collect()
    }

    /// Tells every follower of `update`'s URI; true when none is left (each is gone), so
    /// the upstream can be unsubscribed.
    pub(crate) async fn updated(&self, update: &ResourceUpdatedNotificationParam) -> bool {
        let channels: Vec<(Follower, Channel)> = {
            let mut resources = self.resources();
            let Some(subscribers) = resources.get_mut(&update.uri) else {
                return false;
            };
            subscribers.retain(|s| !s.channel.closed());
            subscribers
                .iter()
                .map(|s| (s.who.clone(), s.channel.clone()))
                .collect()
        };
        let mut gone = Vec::new();
        for (who, channel) in channels {
            if !channel.updated(update).await {
                gone.push(who);
            }
        }
        let mut resources = self.resources();
        let Some(subscribers) = resources.get_mut(&update.uri) else {
            return false;
        };
        subscribers.retain(|s| !gone.contains(&s.who) && !s.channel.closed());
        let none = subscribers.is_empty();
        if none {
            resources.remove(&update.uri);
        }
        none
    }

    /// The session `session` (on `peer`) wants log messages at `level` and above.
    pub(crate) fn listen_to_logs(
        &self,
        session: Option<String>,
        peer: Peer<RoleServer>,
        level: LoggingLevel,
    ) {
        let mut logs = self.logs();
        logs.retain(|l| {
            !l.peer.is_transport_closed() && (l.session.is_none() || l.session != session)
        });
        logs.push(LogListener {
            session,
            peer,
            level,
        });
    }

    /// The level session `session` asked for, if it did.
    pub(crate) fn log_level(&self, session: Option<&str>) -> Option<LoggingLevel> {
        session?;
        self.logs()
            .iter()
            .find(|l| l.session.as_deref() == session)
            .map(|l| l.level)
    }

    /// Passes a log message that belongs to no call to every session that wants it.
    pub(crate) async fn log(&self, params: &LoggingMessageNotificationParam) {
        let peers: Vec<Peer<RoleServer>> = {
            let mut logs = self.logs();
            logs.retain(|l| !l.peer.is_transport_closed());
            logs.iter()
                .filter(|l| log_wanted(Some(l.level), params.level))
                .map(|l| l.peer.clone())
                .collect()
        };
        // Each session on its own: one that reads slowly holds up none of the others.
        let sent = peers.iter().map(|peer| async move {
            if let Err(e) = peer.notify_logging_message(params.clone()).await {
                tracing::debug!(error = %e, "log not delivered");
            }
        });
        futures::future::join_all(sent).await;
    }
}
