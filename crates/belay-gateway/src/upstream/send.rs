//! Sending a caller's request to an upstream: over which session, in which era, within the
//! call timeout and the breaker, and what a failure is called.
#![allow(deprecated)] // Logging is deprecated by SEP-2577 but still relayed.

use belay_auth::Caller;
use rmcp::{
    ErrorData, ServiceError,
    model::{
        CancelledNotificationParam, ClientRequest, LoggingLevel, Request, RequestId, ServerResult,
        SetLevelRequestParams,
    },
    service::PeerRequestOptions,
};
use tokio_util::sync::CancellationToken;

use super::{Conn, RoundTripRoute, Upstream, UpstreamState};
use crate::{
    era::{self, Era, Logs},
    spec::{RestartPolicy, TransportSpec},
    upstream_client::Downstream,
};

impl Upstream {
    /// The session a request of `caller` goes over: the caller's own (token exchange),
    /// else the shared one.
    async fn conn_for(&self, caller: Option<&Caller>) -> Result<Conn, ErrorData> {
        if self.is_retired() {
            return Err(self.unavailable(
                "it was removed from the configuration (reconnect to see the current upstreams)",
            ));
        }
        if let Some(callers) = &self.callers {
            let caller = caller.ok_or_else(|| {
                self.unavailable(
                    "it acts on behalf of the signed-in caller, and this request has none",
                )
            })?;
            return callers.conn(caller, self).await;
        }
        match self.current() {
            Some(conn) => Ok(conn),
            None => {
                let why = match self.status().state {
                    UpstreamState::Down { reason, .. } => reason,
                    _ => "it is still connecting".into(),
                };
                Err(self.unavailable(why))
            }
        }
    }

    /// Sends `request` upstream on behalf of `downstream` (signed in as `caller`), within
    /// the call timeout and the breaker; cancelling `ct` cancels it upstream too. Its
    /// `_meta` is said in the era the upstream is spoken to (`era::to_upstream`), never
    /// the caller's.
    pub async fn request(
        &self,
        mut request: ClientRequest,
        downstream: Option<Downstream>,
        caller: Option<&Caller>,
        ct: &CancellationToken,
    ) -> Result<ServerResult, ErrorData> {
        let conn = self.conn_for(caller).await?;
        let wanted = match downstream.as_ref().map(|d| d.logs) {
            Some(Logs::PerRequest(level)) => level,
            Some(Logs::Session) | None => self.log_level(),
        };
        // A 2026-07-28 caller's call goes in that era to an upstream that serves it: the
        // upstream then checks the caller's capabilities itself, per request (refusing with
        // -32021 what needs one the caller lacks), and asks its questions as
        // `input_required`, tied to the call. Any other upstream is spoken to in the era of
        // its session, declaring the gateway's capabilities.
        let caller_round_trip = downstream.as_ref().and_then(|d| d.round_trip.as_ref());
        let capabilities = caller_round_trip.map(|r| r.capabilities().clone());
        let upstream_era = match (Era::of_upstream(&conn.peer), caller_round_trip) {
            (Era::Handshake, Some(_)) if conn.round_trip.serves() => Era::RoundTrip,
            (era, _) => era,
        };
        if let Some(level) = era::to_upstream(&mut request, wanted, upstream_era, capabilities) {
            self.log_at(&conn, level, ct).await;
        }
        match (&conn.round_trip, upstream_era) {
            // Over Streamable HTTP the session cannot carry it (see `RoundTripRoute`).
            (RoundTripRoute::Posts(posts), Era::RoundTrip) => {
                self.post(posts, request, downstream, ct).await
            }
            _ => self.send(&conn, request, downstream, ct).await,
        }
    }

    /// Lets a request through the breaker, or says when the next may go.
    pub(super) fn admit(&self) -> Result<(), ErrorData> {
        self.breaker.admit().map_err(|wait| {
            self.unavailable(format!(
                "its circuit breaker is open after repeated failures; next try in {} s",
                wait.as_secs().max(1)
            ))
        })
    }

    /// Sends `request` on `conn`, as [`Self::request`] says.
    async fn send(
        &self,
        conn: &Conn,
        mut request: ClientRequest,
        downstream: Option<Downstream>,
        ct: &CancellationToken,
    ) -> Result<ServerResult, ErrorData> {
        self.admit()?;
        let options = PeerRequestOptions::with_timeout(self.spec.timeouts.call());
        // Filed before sending: the upstream may log or ask before the send returns.
        let in_flight = downstream.map(|d| conn.in_flight.reserve(d));
        if let Some(in_flight) = &in_flight {
            in_flight.label(&mut request);
        }
        let handle = conn
            .peer
            .send_request_with_option(request, options)
            .await
            .map_err(|e| self.failed(conn, None, e))?;
        let id = handle.id.clone();
        tokio::select! {
            result = handle.await_response() => {
                // What the upstream sent about the call before answering goes first.
                if let Some(in_flight) = &in_flight {
                    in_flight.passed_on(self.spec.timeouts.call()).await;
                }
                result.map_err(|e| self.failed(conn, Some(&id), e))
            }
            () = ct.cancelled() => {
                let _ = conn.peer.notify_cancelled(CancelledNotificationParam::new(
                    Some(id),
                    Some("cancelled by the client".into()),
                )).await;
                Err(ErrorData::internal_error("request cancelled", None))
            }
        }
        .inspect(|_| self.breaker.success())
    }

    /// The level the last `logging/setLevel` asked for.
    fn log_level(&self) -> Option<LoggingLevel> {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets a handshake-era session's log level to `level` for a caller that asked for it
    /// per request (a 2026-07-28 caller's `logLevel`), unless it is set so already. The
    /// session is shared, so, as with `logging/setLevel`, the last level asked wins; each
    /// caller still gets only what it asked for (see [`crate::era::to_caller`]). A call
    /// does not fail for want of log messages: a refusal is only logged.
    async fn log_at(&self, conn: &Conn, level: LoggingLevel, ct: &CancellationToken) {
        let logs = conn
            .peer
            .peer_info()
            .is_some_and(|i| i.capabilities.logging.is_some());
        {
            let mut current = self.log_level.lock().unwrap_or_else(|e| e.into_inner());
            if !logs || *current == Some(level) {
                return;
            }
            *current = Some(level);
        }
        let params = SetLevelRequestParams::new(level);
        let request = ClientRequest::SetLevelRequest(Request::new(params));
        if let Err(e) = self.send(conn, request, None, ct).await {
            tracing::warn!(upstream = %self.spec.name, error = %e.message, "cannot set the log level a caller asked for");
        }
    }

    /// Maps a failed request (`id`, once sent) on `conn` to a JSON-RPC error naming this
    /// upstream and what it did, counting upstream failures (not its own error answers)
    /// against the breaker.
    fn failed(&self, conn: &Conn, id: Option<&RequestId>, error: ServiceError) -> ErrorData {
        let note = || id.and_then(|id| conn.conduct.take_note(id));
        match error {
            ServiceError::McpError(e) => {
                self.breaker.success(); // It answered: it is alive.
                e
            }
            ServiceError::Timeout { timeout } => {
                self.breaker.failure();
                let waited = format!("no answer within {} ms", timeout.as_millis());
                self.unavailable(match note() {
                    Some(note) => format!("{waited} ({note})"),
                    None => waited,
                })
            }
            other => {
                self.breaker.failure();
                let why = match (conn.conduct.ended(), note()) {
                    (Some(ended), _) => format!("{ended}; {}", self.afterwards()),
                    (None, Some(note)) => note,
                    // The transport's own words, not rmcp's wrapping with its type name.
                    (None, None) => match other {
                        ServiceError::TransportSend(e) => {
                            format!("the request could not be sent ({})", e.error)
                        }
                        other => format!("the connection failed ({other})"),
                    },
                };
                self.unavailable(why)
            }
        }
    }

    /// What becomes of it once its session has ended.
    fn afterwards(&self) -> &'static str {
        match &self.spec.transport {
            _ if self.callers.is_some() => "the caller's next call opens a new session",
            TransportSpec::Stdio { restart, .. } if restart.policy == RestartPolicy::Never => {
                "it is not started again (restart policy `never`)"
            }
            TransportSpec::Stdio { .. } => "it is being started again",
            TransportSpec::Http { .. } | TransportSpec::Sse { .. } | TransportSpec::Openapi(_) => {
                "the gateway opens a new session"
            }
        }
    }
}
