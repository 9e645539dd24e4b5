//! A round-trip client's call between its rounds: the upstream's questions waiting for
//! the client's answers, and the relay's side of them ([`RoundTrip`]).

// Sampling, roots and logging are deprecated by SEP-2577 yet still relayed.
#![allow(deprecated)]

use std::collections::BTreeMap;

use rmcp::{
    ErrorData,
    model::{
        ClientCapabilities, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult,
        ElicitRequest, ElicitRequestParams, ElicitResult, ErrorCode, InputRequest, InputRequests,
        InputResponses, ListRootsRequest, ListRootsResult, LoggingLevel, ServerResult,
    },
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

/// What the relay needs to turn an upstream's live question into an input request of the
/// client's call (see [`crate::relay::Downstream::round_trip`]).
#[derive(Clone)]
pub(crate) struct RoundTrip {
    events: mpsc::Sender<Event>,
    capabilities: ClientCapabilities,
    log_level: Option<LoggingLevel>,
}

impl RoundTrip {
    /// The relay's end of a call whose events go to `events`, for a client that declared
    /// `capabilities` and asked for logs at `log_level`.
    pub(super) fn new(
        events: mpsc::Sender<Event>,
        capabilities: ClientCapabilities,
        log_level: Option<LoggingLevel>,
    ) -> Self {
        Self {
            events,
            capabilities,
            log_level,
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

    /// Whether the client asked for log messages at `level` (a 2026-07-28 client opts in
    /// per request with `_meta` `logLevel`; without it, it gets none).
    pub(crate) fn wants_log(&self, level: LoggingLevel) -> bool {
        self.log_level
            .is_some_and(|min| severity(level) >= severity(min))
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

fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// What happens to a call while the gateway waits on it.
pub(super) enum Event {
    /// The upstream asked something; the client's answer goes to the sender.
    Input(InputRequest, oneshot::Sender<Result<Value, ErrorData>>),
    /// The upstream answered the call.
    Done(Result<ServerResult, ErrorData>),
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

    /// Takes every event already there, so questions asked together go out together.
    fn drain(&mut self) -> Option<Result<ServerResult, ErrorData>> {
        while let Ok(event) = self.events.try_recv() {
            match event {
                Event::Input(request, reply) => self.add(request, reply),
                Event::Done(result) => return Some(result),
            }
        }
        None
    }

    /// Waits for the upstream's result or its next question (at once if questions are
    /// still unanswered).
    pub(super) async fn next(&mut self, ct: &CancellationToken) -> Step {
        if self.asked.is_empty() {
            tokio::select! {
                event = self.events.recv() => match event {
                    Some(Event::Input(request, reply)) => self.add(request, reply),
                    Some(Event::Done(result)) => return Step::Done(Box::new(result)),
                    None => return Step::Done(Box::new(Err(ErrorData::internal_error(
                        "the upstream call ended without an answer", None,
                    )))),
                },
                () = ct.cancelled() => {
                    let cancelled = ErrorData::internal_error("request cancelled", None);
                    return Step::Done(Box::new(Err(cancelled)));
                }
            }
        }
        match self.drain() {
            Some(result) => Step::Done(Box::new(result)),
            None => Step::Ask,
        }
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
