//! `subscriptions/listen` (2026-07-28): the upstreams' list changes and resource updates,
//! to the clients that listen for them.
//!
//! Handshake-era sessions are told of changes with notifications on their session
//! ([`crate::hub::Hub::notify_list_changed`]); a 2026-07-28 client has no session, so it
//! opens a listen stream instead, asking for the kinds it wants. Each change an upstream
//! announces (and each reconnect, announced as a tools change) is broadcast here, and
//! every stream passes on the kinds it accepted, for the upstreams its endpoint serves.
//! The resources a stream names are followed ([`Following`]) on their upstreams like a
//! session's `resources/subscribe` ([`crate::followers`]), from before the stream is
//! acknowledged ([`follow_first`]) until it ends.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use belay_auth::Caller;
use belay_mcp::era::is_round_trip;
use rmcp::{
    ErrorData,
    model::{ProtocolVersion, ServerCapabilities, SubscriptionFilter},
    service::SubscriptionContext,
};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::{
    chain::{CallContext, Chain},
    federation::{self, Scope},
    followers::{Channel, Follower, StreamSlot},
    hub::Hub,
    server::session_of,
    upstream::Upstream,
    upstream_client::Change,
};

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

    /// The part of `requested` a stream gets: list changes the gateway declares, and
    /// updates of the resources its endpoint serves (`served`, each once; the front
    /// followed them, and refused the request if the caller may not: [`follow_first`]).
    pub(crate) fn accepted(
        requested: &SubscriptionFilter,
        capabilities: &ServerCapabilities,
        served: impl FnOnce(&[String]) -> Vec<String>,
    ) -> SubscriptionFilter {
        let mut accepted = requested.supported_by(capabilities);
        if let Some(uris) = &mut accepted.resource_subscriptions {
            *uris = served(uris);
        }
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

/// The resources a `subscriptions/listen` request names (its `params`) are followed before
/// rmcp acknowledges the stream (called by the front, [`crate::admission`]). rmcp sends the
/// acknowledgment before it runs [`rmcp::ServerHandler::listen`], and asks which
/// notifications to accept without the request (so without the caller): followed there, an
/// update the upstream sent right after the client was told the stream is live was lost,
/// and a resource policy denies was acknowledged first and refused after. Here the caller
/// is known and nothing has been said yet: a refusal is the answer to the request (`Err`,
/// the JSON-RPC error), and updates that come before the stream opens wait for it
/// ([`StreamSlot`]). See `docs/upstream/rmcp-notifications.md`.
pub(crate) async fn follow_first(
    hub: &Hub,
    scope: Scope,
    parts: &mut http::request::Parts,
    params: &str,
) -> Result<(), ErrorData> {
    // Not well-formed, or not a 2026-07-28 request (rmcp refuses those in a handshake-era
    // session): rmcp's to answer.
    let Ok(params) = serde_json::from_str::<ListenParams>(params) else {
        return Ok(());
    };
    let era = params.meta.and_then(|m| m.protocol_version);
    let (true, Some(uris)) = (
        is_round_trip(era.as_ref()),
        params.notifications.resource_subscriptions,
    ) else {
        return Ok(());
    };
    let slot = StreamSlot::default();
    let route = |uri: &str| subscribe_context(hub, scope, Some(&*parts), uri);
    let following = Following::default()
        .follow(&served(hub, scope, &uris), &hub.chain, route, &slot)
        .await?;
    let prepared = Prepared(Arc::new(Mutex::new(Some((following, slot)))));
    parts.extensions.insert(prepared);
    Ok(())
}

#[derive(Deserialize)]
struct ListenParams {
    notifications: SubscriptionFilter,
    #[serde(rename = "_meta", default)]
    meta: Option<ListenMeta>,
}

#[derive(Deserialize)]
struct ListenMeta {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion")]
    protocol_version: Option<ProtocolVersion>,
}

/// A listen stream's resources, followed at the front, for its handler to take.
#[derive(Clone)]
struct Prepared(Arc<Mutex<Option<(Following, StreamSlot)>>>);

/// The URIs of `uris` that the endpoint of `scope` serves, each once.
pub(crate) fn served(hub: &Hub, scope: Scope, uris: &[String]) -> Vec<String> {
    let upstreams = hub.upstreams.snapshot();
    let mut seen = HashSet::new();
    uris.iter()
        .filter(|uri| federation::route_uri(scope, &upstreams, uri).is_ok())
        .filter(|uri| seen.insert(uri.as_str()))
        .cloned()
        .collect()
}

/// The upstream serving `uri` at the endpoint of `scope`, and what the chain sees of the
/// caller (behind `parts`) following it: a `resources/subscribe` of `uri`.
fn subscribe_context(
    hub: &Hub,
    scope: Scope,
    parts: Option<&http::request::Parts>,
    uri: &str,
) -> Result<(Arc<Upstream>, CallContext), ErrorData> {
    let upstreams = hub.upstreams.snapshot();
    let i = federation::route_uri(scope, &upstreams, uri)?;
    let upstream = upstreams[i].clone();
    let ctx = CallContext {
        caller: Caller::shared_from_rmcp_parts(parts).cloned(),
        session: session_of(parts),
        upstream: upstream.name().to_owned(),
        method: "resources/subscribe",
        target: Some(uri.to_owned()),
        arguments: None,
    };
    Ok((upstream, ctx))
}

/// The resources the stream `context` follows, and its slot for their updates, now open on
/// the stream: those the front followed ([`follow_first`]), and any it accepted that the
/// front did not (the upstreams' catalogs changed in between). End both when it ends.
pub(crate) async fn resources_of(
    hub: &Hub,
    scope: Scope,
    context: &SubscriptionContext,
) -> Result<(Following, StreamSlot), ErrorData> {
    let parts = context
        .request_context()
        .extensions
        .get::<http::request::Parts>();
    let prepared = parts
        .and_then(|p| p.extensions.get::<Prepared>())
        .and_then(|p| p.0.lock().unwrap_or_else(PoisonError::into_inner).take());
    let (following, slot) = prepared.unwrap_or_default();
    let accepted = context.accepted().resource_subscriptions.clone();
    let late: Vec<String> = accepted
        .into_iter()
        .flatten()
        .filter(|uri| !following.follows(uri))
        .collect();
    let route = |uri: &str| subscribe_context(hub, scope, parts, uri);
    let following = following.follow(&late, &hub.chain, route, &slot).await?;
    slot.open(context.sink().clone()).await;
    Ok((following, slot))
}

/// The resources one listen stream follows, until it ends.
pub(crate) struct Following {
    who: Follower,
    followed: Vec<(Arc<Upstream>, String)>,
}

impl Default for Following {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            who: Follower::Stream(NEXT.fetch_add(1, Ordering::Relaxed)),
            followed: Vec::new(),
        }
    }
}

impl Following {
    /// Follows each of `uris` as a `resources/subscribe` of the same caller would:
    /// `route` names its upstream and what the chain sees (policy, limits, audit); updates
    /// go to `slot`. The first that fails is the error, naming the URI (and nothing stays
    /// followed).
    async fn follow(
        mut self,
        uris: &[String],
        chain: &Chain,
        route: impl Fn(&str) -> Result<(Arc<Upstream>, CallContext), ErrorData>,
        slot: &StreamSlot,
    ) -> Result<Self, ErrorData> {
        // Nobody can cancel these on the stream's behalf: each waits at most the call timeout.
        let ct = CancellationToken::new();
        for uri in uris {
            let followed = async {
                let (upstream, ctx) = route(uri)?;
                let (who, channel) = (self.who.clone(), Channel::Stream(slot.clone()));
                let subscribing = upstream.clone();
                let ct = &ct;
                chain
                    .apply(ctx, |_| async move {
                        subscribing.subscribe(uri.clone(), who, channel, ct).await
                    })
                    .await?;
                Ok::<_, ErrorData>(upstream)
            };
            match followed.await {
                Ok(upstream) => self.followed.push((upstream, uri.clone())),
                Err(e) => {
                    self.end().await;
                    let message = format!("cannot follow `{uri}`: {}", e.message);
                    return Err(ErrorData::new(e.code, message, e.data));
                }
            }
        }
        Ok(self)
    }

    fn follows(&self, uri: &str) -> bool {
        self.followed.iter().any(|(_, followed)| followed == uri)
    }

    /// Lets every resource go: an upstream is unsubscribed once its last follower went.
    pub(crate) async fn end(mut self) {
        unfollow(std::mem::take(&mut self.followed), self.who.clone()).await;
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        // Dropped before `end` (the stream never opened, or its handler was dropped).
        let followed = std::mem::take(&mut self.followed);
        if let (false, Ok(runtime)) = (followed.is_empty(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(unfollow(followed, self.who.clone()));
        }
    }
}

async fn unfollow(followed: Vec<(Arc<Upstream>, String)>, who: Follower) {
    // The stream is over, so it may not cancel these; each waits at most the call timeout.
    let ct = CancellationToken::new();
    for (upstream, uri) in followed {
        if let Err(e) = upstream.unsubscribe(uri, &who, &ct).await {
            tracing::debug!(upstream = %upstream.name(), error = %e.message, "cannot unsubscribe");
        }
    }
}
