//! The supervisor of an upstream's connection: connect, serve until the session ends,
//! reconnect with backoff as the restart policy says, and keep the catalog current.

use std::{sync::Arc, time::Duration};

use rmcp::{
    RoleClient, ServiceError,
    model::ClientRequest,
    service::{Peer, PeerRequestOptions, RunningService},
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{Catalog, Conduct, Conn, Opened, Upstream, UpstreamState};
use crate::{
    in_flight::InFlight,
    spec::{RestartPolicy, RestartSpec, TransportSpec},
    upstream_client::{Change, UpstreamClient},
};

/// The least time between two listings of an upstream that announces changes: a flood of
/// `list_changed` costs one listing (and one notice to each client) a second at most.
const RELIST_EVERY: Duration = Duration::from_secs(1);

impl Upstream {
    /// Runs the connection until `shutdown`: connects, serves, reconnects per policy.
    /// Catalog changes (and every reconnect) are reported on `changes`.
    pub async fn supervise(
        self: Arc<Self>,
        changes: mpsc::UnboundedSender<(String, Change)>,
        shutdown: CancellationToken,
    ) {
        let restart = match &self.spec.transport {
            TransportSpec::Stdio { restart, .. } => restart.clone(),
            // HTTP upstreams are remote: keep trying to reach them.
            _ => RestartSpec::default(),
        };
        let mut attempt = 0u32;
        loop {
            self.status
                .send_modify(|s| s.state = UpstreamState::Connecting);
            let (tx, mut rx) = mpsc::unbounded_channel();
            let in_flight = InFlight::default();
            let client = UpstreamClient::new(
                &self.spec.name,
                in_flight.clone(),
                self.followers.clone(),
                tx,
            );
            let conduct = self.new_conduct();
            let connected = tokio::select! {
                c = tokio::time::timeout(
                    self.spec.timeouts.connect(),
                    self.connect(client, &self.credential, conduct.clone()),
                ) => c,
                () = shutdown.cancelled() => return,
            };
            let failure = match connected {
                Ok(Ok(Opened {
                    running,
                    pid,
                    posts,
                })) => {
                    attempt = 0;
                    self.breaker.success();
                    let peer = running.peer().clone();
                    self.refresh(&peer).await;
                    self.renew(&peer).await;
                    let round_trip = self.round_trip_route(&peer, posts).await;
                    self.set_conn(Some(Conn {
                        peer,
                        in_flight,
                        conduct: conduct.clone(),
                        round_trip,
                    }));
                    self.status.send_modify(|s| {
                        s.state = UpstreamState::Up;
                        s.generation += 1;
                        s.pid = pid;
                    });
                    let _ = changes.send((self.spec.name.clone(), Change::Tools));
                    tracing::info!(upstream = %self.spec.name, "upstream connected");
                    let reason = self
                        .serve(running, &mut rx, &changes, &shutdown, &conduct)
                        .await;
                    self.set_conn(None);
                    let _ = changes.send((self.spec.name.clone(), Change::Tools));
                    match reason {
                        None => return, // Shutdown.
                        // What the upstream did, if that ended it.
                        Some(reason) => conduct.ended().map_or(reason, str::to_owned),
                    }
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!(
                    "upstream `{}`: no session within {} ms",
                    self.spec.name, self.spec.timeouts.connect_ms
                ),
            };
            let retrying = match restart.policy {
                RestartPolicy::Never => false,
                RestartPolicy::OnFailure | RestartPolicy::Always => true,
            };
            tracing::warn!(upstream = %self.spec.name, %failure, retrying, "upstream down");
            self.status.send_modify(|s| {
                s.state = UpstreamState::Down {
                    reason: failure,
                    retrying,
                };
                s.pid = None;
            });
            if !retrying {
                return;
            }
            let wait = restart.backoff(attempt);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Serves one session until it ends (`Some(reason)`) or shutdown (`None`), relaying
    /// list changes (listing the upstream again at most every [`RELIST_EVERY`], each kind
    /// once however many came meanwhile) and pinging on the health interval. A session
    /// that leaves `silent_pings` pings in a row unanswered is ended, so that it is opened
    /// again (a wedged process is restarted).
    async fn serve(
        &self,
        running: RunningService<RoleClient, UpstreamClient>,
        rx: &mut mpsc::UnboundedReceiver<Change>,
        changes: &mpsc::UnboundedSender<(String, Change)>,
        shutdown: &CancellationToken,
        conduct: &Conduct,
    ) -> Option<String> {
        let peer = running.peer().clone();
        let session_ct = running.cancellation_token();
        let mut waiting = std::pin::pin!(running.waiting());
        let mut health = tokio::time::interval(if self.health_interval.is_zero() {
            Duration::from_secs(365 * 24 * 3600)
        } else {
            self.health_interval
        });
        health.tick().await; // The first tick is immediate; we just connected.
        let mut unanswered = 0u32;
        // Changes announced and not yet listed, and when the upstream was last listed.
        let mut pending: Vec<Change> = Vec::new();
        let mut relisted: Option<Instant> = None;
        let relist = tokio::time::sleep(Duration::ZERO);
        let mut relist = std::pin::pin!(relist);
        loop {
            tokio::select! {
                ended = &mut waiting => {
                    return Some(match ended {
                        Ok(reason) => format!("session ended ({reason:?})"),
                        Err(e) => format!("session failed ({e})"),
                    });
                }
                () = shutdown.cancelled() => {
                    session_ct.cancel();
                    let _ = waiting.await;
                    return None;
                }
                Some(change) = rx.recv() => {
                    if !pending.contains(&change) {
                        pending.push(change);
                    }
                    let due = relisted.map_or_else(Instant::now, |at| at + RELIST_EVERY);
                    relist.as_mut().reset(due);
                }
                () = &mut relist, if !pending.is_empty() => {
                    // Taken before listing: a change from now on is listed again.
                    for change in &pending {
                        conduct.taken(*change);
                    }
                    self.refresh(&peer).await;
                    relisted = Some(Instant::now());
                    for change in pending.drain(..) {
                        let _ = changes.send((self.spec.name.clone(), change));
                    }
                }
                _ = health.tick(), if !self.health_interval.is_zero() => {
                    let ping = ClientRequest::PingRequest(Default::default());
                    let options = PeerRequestOptions::with_timeout(self.spec.timeouts.call());
                    let answered = match peer.send_request_with_option(ping, options).await {
                        Ok(handle) => handle.await_response().await.map(drop),
                        Err(e) => Err(e),
                    };
                    let Err(error) = answered else {
                        unanswered = 0;
                        self.breaker.success();
                        continue;
                    };
                    tracing::warn!(upstream = %self.spec.name, %error, "health ping failed");
                    self.breaker.failure();
                    // An error answer shows it alive; silence or a broken connection does not.
                    unanswered = match error {
                        ServiceError::McpError(_) => 0,
                        _ => unanswered + 1,
                    };
                    if self.silent_pings > 0 && unanswered >= self.silent_pings {
                        let why = format!("it answered no health ping {unanswered} times in a row");
                        conduct.end(why);
                        session_ct.cancel();
                        let _ = waiting.await;
                        return Some(conduct.ended().unwrap_or_default().to_owned());
                    }
                }
            }
        }
    }

    /// Lists everything the upstream offers, by its declared capabilities. A list that
    /// fails leaves that part empty: the rest of the upstream still works.
    async fn refresh(&self, peer: &Peer<RoleClient>) {
        let caps = peer.peer_info().map(|info| info.capabilities.clone());
        let caps = caps.unwrap_or_default();
        let name = &self.spec.name;
        let warn = |what: &str, e: ServiceError| {
            tracing::warn!(upstream = %name, error = %e, "cannot list {what}");
        };
        let mut catalog = Catalog::default();
        if caps.tools.is_some() {
            catalog.tools = peer.list_all_tools().await.unwrap_or_else(|e| {
                warn("tools", e);
                Vec::new()
            });
        }
        if caps.prompts.is_some() {
            catalog.prompts = peer.list_all_prompts().await.unwrap_or_else(|e| {
                warn("prompts", e);
                Vec::new()
            });
        }
        if caps.resources.is_some() {
            catalog.resources = peer.list_all_resources().await.unwrap_or_else(|e| {
                warn("resources", e);
                Vec::new()
            });
            catalog.templates = peer
                .list_all_resource_templates()
                .await
                .unwrap_or_else(|e| {
                    warn("resource templates", e);
                    Vec::new()
                });
        }
        self.publish(catalog).await;
    }
}
