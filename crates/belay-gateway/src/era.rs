//! The era boundary: what crosses the gateway is said in the era of the side it goes to.
//!
//! A caller speaks the handshake era (`initialize`, a session, server-to-client requests)
//! or the round-trip era (2026-07-28: no session, every request carries its own `_meta`
//! envelope, questions come back as `input_required`). The gateway negotiates an era of
//! its own with each upstream: it opens every upstream session with `initialize` (whose
//! health pings, subscriptions and list-change notifications it needs), then asks the
//! upstream once, with `server/discover`, whether it serves 2026-07-28 requests too
//! (rmcp-based servers do; the Python SDK does over HTTP, not on stdio): a stdio upstream
//! on that connection, a Streamable HTTP one as POSTs of their own, outside the session
//! (`upstream::round_trip` says why). A 2026-07-28 caller's calls go to such an upstream
//! in that era, declaring what the caller can answer through the gateway, so the upstream
//! asks in its own `input_required` rounds (tied to the call even when several callers
//! share the connection) and refuses what needs a capability the caller lacks (-32021).
//! The two need not match, and neither side may be sent the other's: a handshake-era
//! server refuses a request carrying the 2026-07-28 envelope (the Python SDK answers
//! -32600), as the specification says an `initialize` selects the handshake era for the
//! whole session. So:
//!
//! * [`to_upstream`] rewrites a request's `_meta` for the upstream's era. What means the
//!   same in both eras travels: the W3C trace context (`traceparent`, `tracestate`,
//!   `baggage`), the
//!   progress token (rmcp gives each upstream request its own, and [`crate::upstream_client`] maps
//!   the upstream's progress back to the caller's token) and the log level (per request in
//!   2026-07-28, `logging/setLevel` on the session in the handshake era). The rest of the
//!   caller's envelope (its protocol version, identity and capabilities) is the caller's
//!   own business with the gateway and stays here; a 2026-07-28 upstream is sent the
//!   gateway's own envelope instead.
//! * [`to_caller`] delivers what the upstream says during a call in the caller's era: a
//!   question (elicitation, sampling, roots) becomes a server-to-client request for a
//!   handshake-era caller and an input request of its call's `input_required` round for a
//!   2026-07-28 caller; progress and log messages go on the caller's session, or to the
//!   open round of its call (with that round's progress token and log level); a result
//!   gets the `resultType` a 2026-07-28 caller needs.
#![allow(deprecated)] // Sampling, roots and logging are deprecated by SEP-2577 but still relayed.

use belay_mcp::era::is_round_trip;
use rmcp::{
    ErrorData, RoleClient, RoleServer, ServiceError,
    model::{
        ClientCapabilities, ClientRequest, ClientResult, CreateMessageRequestParams,
        ElicitRequestParams, GetMeta, LoggingLevel, ProtocolVersion, Request, RequestNoParam,
        ResultType, ServerRequest, ServerResult,
    },
    service::{Peer, RequestContext},
};

use crate::{
    input_required::Notice,
    trace_context::{BAGGAGE, TRACEPARENT, TRACESTATE},
    upstream_client::{self, Downstream},
};

/// The protocol era one side of the gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Era {
    /// Up to 2025-11-25: an `initialize` handshake opens a session.
    Handshake,
    /// 2026-07-28 and later: each request carries its own envelope.
    RoundTrip,
}

impl Era {
    /// The era the gateway negotiated on its connection to an upstream.
    pub(crate) fn of_upstream(peer: &Peer<RoleClient>) -> Self {
        let version = peer.peer_info().map(|info| info.protocol_version.clone());
        Self::of_version(version.as_ref())
    }

    /// The era of a caller's request.
    pub(crate) fn of_caller(context: &RequestContext<RoleServer>) -> Self {
        Self::of_version(context.protocol_version().as_ref())
    }

    fn of_version(version: Option<&ProtocolVersion>) -> Self {
        if is_round_trip(version) {
            Self::RoundTrip
        } else {
            Self::Handshake
        }
    }
}

/// The log level a caller wants for one request, as its era says it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Logs {
    /// A 2026-07-28 caller: its request's `logLevel` (none: no log messages).
    PerRequest(Option<LoggingLevel>),
    /// A handshake-era caller: the level last set with `logging/setLevel`.
    Session,
}

impl Logs {
    /// What the caller behind `context` asked for.
    pub fn of_caller(context: &RequestContext<RoleServer>) -> Self {
        match Era::of_caller(context) {
            Era::RoundTrip => Self::PerRequest(context.meta.log_level()),
            Era::Handshake => Self::Session,
        }
    }
}

/// Rewrites the `_meta` of `request`, built from a caller's request, for an upstream of
/// era `upstream`: the trace context and progress token stay, every other key goes, and
/// the log level the caller wants (`log_level`, already resolved from [`Logs`]) is said
/// the upstream's way. A 2026-07-28 upstream gets the gateway's own envelope with the level
/// in it, declaring `capabilities` (what the caller can answer through the gateway, so the
/// upstream refuses what needs more, as the specification asks) or, without them, the
/// gateway's own; for a handshake-era upstream the level is returned, to be set on its
/// session with `logging/setLevel` before the request goes.
pub(crate) fn to_upstream(
    request: &mut ClientRequest,
    log_level: Option<LoggingLevel>,
    upstream: Era,
    capabilities: Option<ClientCapabilities>,
) -> Option<LoggingLevel> {
    let meta = request.get_meta_mut();
    let caller = std::mem::take(meta);
    for key in [TRACEPARENT, TRACESTATE, BAGGAGE, PROGRESS_TOKEN] {
        if let Some(value) = caller.get(key) {
            meta.insert(key.to_owned(), value.clone());
        }
    }
    match upstream {
        Era::Handshake => log_level,
        Era::RoundTrip => {
            let identity = upstream_client::identity();
            meta.set_protocol_version(ProtocolVersion::V_2026_07_28);
            meta.set_client_info(identity.client_info);
            meta.set_client_capabilities(capabilities.unwrap_or(identity.capabilities));
            if let Some(level) = log_level {
                meta.set_log_level(level);
            }
            None
        }
    }
}

/// The `_meta` key of the progress token (the same in both eras).
const PROGRESS_TOKEN: &str = "progressToken";

/// A question an upstream asks its client during a call.
pub(crate) enum Question {
    /// `elicitation/create`.
    Elicit(ElicitRequestParams),
    /// `sampling/createMessage`.
    Sample(CreateMessageRequestParams),
    /// `roots/list`.
    Roots,
}

/// What an upstream sends that a caller must get.
pub(crate) enum FromUpstream<'a> {
    /// The upstream's answer to the caller's request.
    Result(&'a mut ServerResult),
    /// A question of the upstream, for the caller to answer.
    Question(Question),
    /// Progress or a log message about the call.
    Notice(Notice),
}

/// Why a question got no answer.
pub(crate) enum Unanswered {
    /// The gateway refuses it for the caller, saying why (the caller cannot answer it).
    Refused(ErrorData),
    /// The caller's session failed to answer.
    Caller(ServiceError),
}

/// Delivers `message` to `caller` in the caller's era (see the module documentation); the
/// caller's answer to a question, nothing for the rest.
pub(crate) async fn to_caller(
    caller: &Downstream,
    message: FromUpstream<'_>,
) -> Result<Option<ClientResult>, Unanswered> {
    let question = match message {
        FromUpstream::Result(result) => {
            mark_complete(result);
            return Ok(None);
        }
        FromUpstream::Question(question) => question,
        FromUpstream::Notice(notice) => {
            notify(caller, notice).await;
            return Ok(None);
        }
    };
    if let Some(round_trip) = &caller.round_trip {
        let answer = match question {
            Question::Elicit(params) => round_trip.elicit(params).await.map(Into::into),
            Question::Sample(params) => round_trip
                .sample(params)
                .await
                .map(|r| ClientResult::CreateMessageResult(Box::new(r))),
            Question::Roots => round_trip.list_roots().await.map(Into::into),
        };
        return answer.map(Some).map_err(Unanswered::Refused);
    }
    caller
        .ask(server_request(caller, question)?)
        .await
        .map(Some)
        .map_err(Unanswered::Caller)
}

/// `question` as the server-to-client request a handshake-era `caller` is sent, refused
/// when the caller could not take it.
pub(crate) fn server_request(
    caller: &Downstream,
    question: Question,
) -> Result<ServerRequest, Unanswered> {
    Ok(match question {
        Question::Elicit(params) => ServerRequest::ElicitRequest(Request::new(params)),
        Question::Sample(params) => {
            // What rmcp's `Peer::create_message` checks before sending.
            if (params.tools.is_some() || params.tool_choice.is_some())
                && !caller.peer.supports_sampling_tools()
            {
                return Err(Unanswered::Refused(ErrorData::invalid_params(
                    "the sampling request names tools, and the client cannot sample with tools",
                    None,
                )));
            }
            params
                .validate()
                .map_err(|e| Unanswered::Refused(ErrorData::invalid_params(e, None)))?;
            ServerRequest::CreateMessageRequest(Request::new(params))
        }
        Question::Roots => ServerRequest::ListRootsRequest(RequestNoParam::default()),
    })
}

/// Progress goes out with the token of the caller's request (none asked: none sent), a log
/// message at the level the caller asked for: on its session, or to its call's open round.
async fn notify(caller: &Downstream, notice: Notice) {
    if let Some(round_trip) = &caller.round_trip {
        return round_trip.notice(notice).await;
    }
    let sent = match notice {
        Notice::Progress(mut params) => {
            let Some(token) = caller.progress.clone() else {
                return; // The caller did not ask for progress.
            };
            params.progress_token = token;
            caller.peer.notify_progress(params).await
        }
        // A handshake-era caller's level is the session's, which the upstream applies.
        Notice::Log(params) => caller.peer.notify_logging_message(params).await,
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, "a notice of the upstream was not delivered");
    }
}

/// Gives a relayed result the `resultType` a 2026-07-28 caller requires. A handshake-era
/// upstream's results have none; rmcp's server handler drops a `"complete"` again for
/// handshake-era callers, so both eras get their own wire shape. A `resultType` the
/// upstream did send (e.g. `input_required`) is kept.
fn mark_complete(result: &mut ServerResult) {
    let result_type = match result {
        ServerResult::CallToolResult(r) => &mut r.result_type,
        ServerResult::GetPromptResult(r) => &mut r.result_type,
        ServerResult::ReadResourceResult(r) => &mut r.result_type,
        ServerResult::CompleteResult(r) => &mut r.result_type,
        ServerResult::ListToolsResult(r) => &mut r.result_type,
        ServerResult::ListPromptsResult(r) => &mut r.result_type,
        ServerResult::ListResourcesResult(r) => &mut r.result_type,
        ServerResult::ListResourceTemplatesResult(r) => &mut r.result_type,
        _ => return,
    };
    result_type.get_or_insert(ResultType::COMPLETE);
}

#[cfg(test)]
mod tests;
