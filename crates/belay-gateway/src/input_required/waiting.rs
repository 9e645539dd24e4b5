//! A round-trip client's call between its rounds: the upstream's questions waiting for
//! the client's answers, and the relay's side of them ([`RoundTrip`]).

// Sampling, roots and logging are deprecated by SEP-2577 yet still relayed.
#![allow(deprecated)]

use std::collections::BTreeMap;

use rmcp::{
    ErrorData, RoleServer,
    model::{
        ClientCapabilities, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult,
        ElicitRequest, ElicitRequestParams, ElicitResult, ErrorCode, InputRequest, InputRequests,
        InputResponses, ListRootsRequest, ListRootsResult, LoggingLevel,
        LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, ServerResult,
    },
    service::Peer,
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::in_flight::STALLED_CALLER;

/// What the relay needs to turn an upstream's live question into an input request of the
/// client's call (see [`crate::upstream_client::Downstream::round_trip`]).
#[derive(Clone)]
pub(crate) struct RoundTrip {
    events: mpsc::Sender<Event>,
    capabilities: ClientCapabilities,
}

impl RoundTrip {
    /// The relay's end of a call whose events go to `events`, for a client that declared
    /// `capabilities`.
    pub(super) fn new(events: mpsc::Sender<Event>, capabilities: ClientCapabilities) -> Self {
        Self {
            events,
            capabilities,
        }
    }

    /// What the client behind this call can answer (its relayable capabilities).
    pub(crate) fn capabilities(&self) -> &ClientCapabilities {
        &self.capabilities
    }

    /// Passes the upstream's progress or log message on to whichever round of the call is
    /// open when it arrives (the round that started the call may have ended). A few wait
    /// in the call's queue; beyond them a notice waits as long as a reading caller needs
    /// to take one ([`STALLED_CALLER`]), then is dropped: between rounds nobody reads the
    /// queue, and such notices only tell how things are going.
    pub(crate) async fn notice(&self, notice: Notice) {
        let queued = self
            .events
            .send_timeout(Event::Notice(notice), STALLED_CALLER)
            .await;
        if queued.is_err() {
            tracing::debug!("a notice of the upstream was dropped: its call's queue is full");
        }
    }

    /// Asks the client to fill in a form, as an input request of its call.
    pub(crate) async fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> Result<ElicitResult, ErrorData> {
        self.able(self.capabilities.elicitation.is_some(), "elicitation")?;
        self.ask(InputRequest::Elicitation(ElicitRequest::new(params)))
            .await
    }

    /// Asks the client's model for a completion, as an input request of its call.
    pub(crate) async fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.able(self.capabilities.sampling.is_some(), "sampling")?;
        self.ask(InputRequest::CreateMessage(CreateMessageRequest::new(
            params,
        )))
        .await
    }

    /// Asks the client for its roots; none when it did not declare any.
    pub(crate) async fn list_roots(&self) -> Result<ListRootsResult, ErrorData> {
        if self.capabilities.roots.is_none() {
            return Ok(ListRootsResult::default());
        }
        self.ask(InputRequest::ListRoots(ListRootsRequest::default()))
            .await
    }

    fn able(&self, declared: bool, what: &str) -> Result<(), ErrorData> {
        if declared {
            return Ok(());
        }
        Err(ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("the client did not declare the {what} capability"),
            None,
        ))
    }

    async fn ask<T: DeserializeOwned>(&self, request: InputRequest) -> Result<T, ErrorData> {
        let (reply, answer) = oneshot::channel();
        let gone = || {
            ErrorData::internal_error(
                "the client's call ended before it answered (timed out or cancelled)",
                None,
            )
        };
        self.events
            .send(Event::Input(request, reply))
            .await
            .map_err(|_| gone())?;
        let value = answer.await.map_err(|_| gone())??;
        // Checked when the answer arrived (see `Waiting::answer`), so this only fails on a bug.
        serde_json::from_value(value).map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }
}

/// What happens to a call while the gateway waits on it.
pub(super) enum Event {
    /// The upstream asked something; the client's answer goes to the sender.
    Input(InputRequest, oneshot::Sender<Result<Value, ErrorData>>),
    /// The upstream reported progress or logged something.
    Notice(Notice),
    /// The upstream answered the call.
    Done(Result<ServerResult, ErrorData>),
}

/// A notification of the upstream about the call.
pub(crate) enum Notice {
    /// `notifications/progress` (with the token the gateway's upstream request carried).
    Progress(ProgressNotificationParam),
    /// `notifications/message`.
    Log(LoggingMessageNotificationParam),
}

/// The round of a call that is open: where the upstream's notices go now.
pub(super) struct Listener {
    /// The client's connection for this round's request.
    pub(super) peer: Peer<RoleServer>,
    /// The progress token of this round's request, if the client asked for progress.
    pub(super) progress: Option<ProgressToken>,
    /// The log level this round's request asked for (a 2026-07-28 client opts in per
    /// request with `_meta` `logLevel`; without it, it gets no log messages).
    pub(super) log_level: Option<LoggingLevel>,
}

impl Listener {
    async fn deliver(&self, notice: Notice) {
        let sent = match notice {
            Notice::Progress(mut params) => {
                let Some(token) = &self.progress else {
                    return; // This round did not ask for progress.
                };
                params.progress_token = token.clone();
                self.peer.notify_progress(params).await
            }
            Notice::Log(params) => {
                if !belay_mcp::era::log_wanted(self.log_level, params.level) {
                    return;
                }
                self.peer.notify_logging_message(params).await
            }
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "a notice of the upstream was not delivered");
        }
    }
}

/// A question of the upstream the client has not answered yet.
struct Asked {
    request: InputRequest,
    reply: oneshot::Sender<Result<Value, ErrorData>>,
}

impl Asked {
    /// Whether `value` is an answer of the right shape, so a malformed one is refused to
    /// the client instead of failing the upstream's request.
    fn check(&self, key: &str, value: &Value) -> Result<(), ErrorData> {
        let parsed = match &self.request {
            InputRequest::Elicitation(_) => ElicitResult::deserialize(value).map(drop),
            InputRequest::CreateMessage(_) => CreateMessageResult::deserialize(value).map(drop),
            InputRequest::ListRoots(_) => ListRootsResult::deserialize(value).map(drop),
            _ => Ok(()),
        };
        parsed.map_err(|e| {
            ErrorData::invalid_params(format!("inputResponses[`{key}`] is malformed: {e}"), None)
        })
    }
}

/// One upstream call of a round-trip client, between the client's rounds.
pub(super) struct Waiting {
    /// Its random id, the key it is parked under.
    pub(super) call: String,
    /// Rounds answered so far; a state names the round it was issued for, so it is good once.
    pub(super) round: u32,
    events: mpsc::Receiver<Event>,
    asked: BTreeMap<String, Asked>,
    next_key: u32,
    /// Cancels the upstream call when the call is dropped (expired, cancelled, refused).
    _cancel: DropGuard,
}

/// What the gateway waited for: the upstream's answer, or questions for the client.
pub(super) enum Step {
    Done(Box<Result<ServerResult, ErrorData>>),
    Ask,
}

impl Waiting {
    /// A call `call` whose events arrive on `events`; dropping it drops `cancel`.
    pub(super) fn new(call: String, events: mpsc::Receiver<Event>, cancel: DropGuard) -> Self {
        Self {
            call,
            round: 0,
            events,
            asked: BTreeMap::new(),
            next_key: 0,
            _cancel: cancel,
        }
    }

    fn add(&mut self, request: InputRequest, reply: oneshot::Sender<Result<Value, ErrorData>>) {
        self.next_key += 1;
        let kind = match &request {
            InputRequest::Elicitation(_) => "elicitation",
            InputRequest::CreateMessage(_) => "sampling",
            _ => "roots",
        };
        let key = format!("{kind}-{}", self.next_key);
        self.asked.insert(key, Asked { request, reply });
    }

    /// Waits for the upstream's result or its next question (at once if questions are
    /// still unanswered), passing the upstream's notices on to `listener` meanwhile.
    pub(super) async fn next(&mut self, ct: &CancellationToken, listener: &Listener) -> Step {
        while self.asked.is_empty() {
            let event = tokio::select! {
                event = self.events.recv() => event,
                () = ct.cancelled() => {
                    let cancelled = ErrorData::internal_error("request cancelled", None);
                    return Step::Done(Box::new(Err(cancelled)));
                }
            };
            match event {
                Some(Event::Input(request, reply)) => self.add(request, reply),
                Some(Event::Notice(notice)) => listener.deliver(notice).await,
                Some(Event::Done(result)) => return Step::Done(Box::new(result)),
                None => {
                    let ended = ErrorData::internal_error(
                        "the upstream call ended without an answer",
                        None,
                    );
                    return Step::Done(Box::new(Err(ended)));
                }
            }
        }
        // Take every event already there, so questions asked together go out together.
        while let Ok(event) = self.events.try_recv() {
            match event {
                Event::Input(request, reply) => self.add(request, reply),
                Event::Notice(notice) => listener.deliver(notice).await,
                Event::Done(result) => return Step::Done(Box::new(result)),
            }
        }
        Step::Ask
    }

    /// Passes the client's answers to the questions they answer; other keys are ignored
    /// (SEP-2322: unknown information is not an error), unanswered questions asked again.
    pub(super) fn answer(&mut self, responses: Option<InputResponses>) -> Result<(), ErrorData> {
        let Some(responses) = responses else {
            return Ok(());
        };
        for (key, asked) in &self.asked {
            if let Some(value) = responses.get(key) {
                asked.check(key, value)?;
            }
        }
        for (key, value) in responses {
            if let Some(asked) = self.asked.remove(&key) {
                // The upstream may have given up on it meanwhile; nothing to do then.
                let _ = asked.reply.send(Ok(value));
            }
        }
        Ok(())
    }

    pub(super) fn input_requests(&self) -> InputRequests {
        self.asked
            .iter()
            .map(|(key, asked)| (key.clone(), asked.request.clone()))
            .collect()
    }
}
