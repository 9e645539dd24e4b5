//! One upstream session per signed-in caller, for upstreams reached with a token exchanged
//! on the caller's behalf.
//!
//! A token belongs to one person, and an MCP session is where a server keeps that
//! person's state (and where it sends its elicitation questions), so a caller's calls never
//! share a session with anyone else's. Sessions open on a caller's first call, carry their
//! own exchanged credential (renewed from the caller's newest token), and close after
//! [`IDLE`] without calls or when the gateway stops (on the gateway's task tracker, so
//! that a stop waits for them to be closed upstream).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use belay_auth::Caller;
use rmcp::ErrorData;
use tokio::{sync::mpsc, time::Instant};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    credential::Credential,
    followers::Followers,
    in_flight::InFlight,
    upstream::{Conduct, Conn, RoundTripRoute},
    upstream_client::UpstreamClient,
};

/// How long a caller's session stays open without calls.
pub(crate) const IDLE: Duration = Duration::from_secs(10 * 60);

/// A caller's session as opened: the session, the record of its upstream's conduct, and
/// how a 2026-07-28 caller's requests reach the upstream with the caller's credential.
pub(crate) type OpenedSession = (
    rmcp::service::RunningService<rmcp::RoleClient, UpstreamClient>,
    Arc<Conduct>,
    RoundTripRoute,
);

/// Opens a session with a given credential: the transport part of [`crate::upstream::Upstream`].
pub(crate) trait Connector: Send + Sync {
    /// Opens an MCP session to the upstream as `client`, sending `credential`.
    fn open(
        &self,
        client: UpstreamClient,
        credential: Credential,
    ) -> impl Future<Output = Result<OpenedSession, ErrorData>> + Send;
}

/// The per-caller sessions of one upstream.
pub(crate) struct CallerSessions {
    upstream: String,
    /// The upstream's own credential, from which each caller's is derived.
    credential: Credential,
    followers: Followers,
    sessions: Mutex<HashMap<String, Arc<CallerSession>>>,
    /// Cancelled when the gateway stops: every session closes.
    stop: CancellationToken,
    /// Where the sessions run, so the gateway can wait for them to close.
    tasks: TaskTracker,
}

struct CallerSession {
    credential: Credential,
    conn: tokio::sync::Mutex<Option<Conn>>,
    stop: CancellationToken,
    last_used: Mutex<Instant>,
}

impl CallerSessions {
    pub(crate) fn new(
        upstream: &str,
        credential: Credential,
        followers: Followers,
        stop: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            upstream: upstream.to_owned(),
            credential,
            followers,
            sessions: Mutex::default(),
            stop,
            tasks,
        }
    }

    /// How many callers have a session open.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CallerSession>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session of `caller`, opened through `connector` if it has none or its last
    /// one ended. Idle sessions of other callers are closed on the way.
    pub(crate) async fn conn(
        &self,
        caller: &Caller,
        connector: &impl Connector,
    ) -> Result<Conn, ErrorData> {
        // One session per person and client: each client's calls go upstream with a token
        // exchanged from that client's own grant (its scopes, revoked with it).
        let key = format!(
            "{}\n{}\n{}",
            caller.issuer,
            caller.sub,
            caller.client_id.as_deref().unwrap_or_default()
        );
        let session =
            {
                let mut sessions = self.lock();
                let now = Instant::now();
                sessions.retain(|_, s| {
                    let idle = now
                        .duration_since(*s.last_used.lock().unwrap_or_else(|e| e.into_inner()))
                        > IDLE;
                    if idle {
                        s.stop.cancel();
                    }
                    !idle
                });
                match sessions.get(&key) {
                    Some(session) => session.clone(),
                    None => {
                        let credential =
                        self.credential.on_behalf_of(caller.token.clone()).ok_or_else(|| {
                            ErrorData::internal_error(
                                format!(
                                    "upstream `{}` has no OAuth credential to exchange tokens with",
                                    self.upstream
                                ),
                                None,
                            )
                        })?;
                        let session = Arc::new(CallerSession {
                            credential,
                            conn: tokio::sync::Mutex::new(None),
                            stop: self.stop.child_token(),
                            last_used: Mutex::new(now),
                        });
                        sessions.insert(key, session.clone());
                        session
                    }
                }
            };
        *session.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        session.credential.update_subject(&caller.token);
        let mut conn = session.conn.lock().await;
        if let Some(open) = conn.as_ref().filter(|c| !c.peer.is_transport_closed()) {
            return Ok(open.clone());
        }
        // Lists come from the upstream's shared session; a caller's session has nobody
        // to tell about changes, so its change channel is left unread.
        let (changes, _) = mpsc::unbounded_channel();
        let in_flight = InFlight::default();
        let client = UpstreamClient::new(
            &self.upstream,
            in_flight.clone(),
            self.followers.clone(),
            changes,
        )
        .for_one_caller();
        let (running, conduct, round_trip) =
            connector.open(client, session.credential.clone()).await?;
        let opened = Conn {
            peer: running.peer().clone(),
            in_flight,
            conduct,
            round_trip,
        };
        let stop = session.stop.clone();
        let upstream = self.upstream.clone();
        self.tasks.spawn(async move {
            let ct = running.cancellation_token();
            let mut waiting = std::pin::pin!(running.waiting());
            let ended = tokio::select! {
                ended = &mut waiting => ended,
                () = stop.cancelled() => {
                    // Closing the session tells the upstream (an HTTP DELETE): wait for it.
                    ct.cancel();
                    waiting.await
                }
            };
            tracing::debug!(%upstream, ?ended, "caller session ended");
        });
        tracing::debug!(upstream = %self.upstream, user = %caller.sub, "caller session opened");
        *conn = Some(opened.clone());
        Ok(opened)
    }
}
