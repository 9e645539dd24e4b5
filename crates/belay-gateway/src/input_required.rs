//! `input_required` for 2026-07-28 clients (multi round-trip requests, SEP-2322).
//!
//! A 2026-07-28 client cannot receive server-to-client requests: a server that needs an
//! elicitation, a sampling or the client's roots answers the call with an `input_required`
//! result, and the client calls again with the answers. An upstream that also serves
//! 2026-07-28 requests (one that answered `server/discover` in that era; see
//! [`crate::era`]) is sent the call in that era and answers `input_required` itself; its
//! round passes through. Any other upstream asks live: its elicitation or sampling request
//! reaches the upstream's client handler ([`crate::upstream_client`]) while the call is
//! open; the gateway
//! answers the client's call with `input_required` carrying that request and *parks* the
//! upstream call, still waiting, under a random id. The client's retry answers the parked
//! request, and the gateway waits again for the result or the next question. A parked call
//! waits at most the upstream's call timeout, as a live question would. Its progress and
//! log messages go to whichever round is open when they arrive (with that round's progress
//! token and log level). As for any live question ([`crate::upstream_client`]), a question that
//! cannot be tied to its call is refused while other clients' calls are in flight on the
//! same upstream, and a parked call is one. An upstream that answers `input_required`
//! itself (one serving the 2026-07-28 era) has its round passed through, its own state
//! sealed inside the gateway's.
//!
//! Either way the `requestState` the client sees is the gateway's own ([`state`]), sealed
//! with a per-endpoint random key and bound to the caller (or session), upstream, method,
//! target and arguments: a forged, expired or foreign state is refused with a clear error,
//! and nobody else can answer a caller's parked call. A retry is a new request, so it goes
//! through policy, guards and audit again; the first retry with a state the gateway issued
//! is not charged to the rate limiter again (a state used twice is).

// Sampling, roots and logging are deprecated by SEP-2577 yet still relayed.
#![allow(deprecated)]

mod state;
mod waiting;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use belay_auth::Caller;
use rmcp::{
    ErrorData, RoleServer,
    model::{
        CallToolRequestParams, ClientCapabilities, ClientRequest, GetPromptRequestParams,
        InputRequiredResult, InputResponses, ReadResourceRequestParams, ServerResult,
    },
    service::RequestContext,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(crate) use self::waiting::{Notice, RoundTrip};
use self::{
    state::{Resume, Seals},
    waiting::{Event, Listener, Step, Waiting},
};
use crate::{
    chain::{AllowAll, CallContext, Chain},
    era::{self, FromUpstream},
    upstream::Upstream,
    upstream_client::Downstream,
};

/// Calls parked at once per endpoint, at most: each holds an upstream call open, so a
/// client that never answers cannot pile them up beyond this.
const MAX_PARKED: usize = 1024;

/// The answer to one round: the final result, or questions for the client.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Round<T> {
    /// The client must answer these and call again. Tried first when read back (after a
    /// guard rewrote the JSON): it only matches `resultType: "input_required"`.
    InputRequired(InputRequiredResult),
    /// The upstream's result.
    Complete(T),
}

impl<T> Round<T> {
    /// The handler's response type (`CallToolResponse`, `GetPromptResponse`, ...).
    pub(crate) fn into_response<R: From<T> + From<InputRequiredResult>>(self) -> R {
        match self {
            Self::InputRequired(pending) => pending.into(),
            Self::Complete(result) => result.into(),
        }
    }
}

/// The retry fields of a request that may be answered with `input_required`.
pub(crate) trait Retry {
    /// `requestState`: the gateway's on the way in, the upstream's own on the way out.
    fn request_state(&mut self) -> &mut Option<String>;
    /// `inputResponses`.
    fn input_responses(&mut self) -> &mut Option<InputResponses>;
}

macro_rules! retry {
    ($($params:ty),*) => {$(
        impl Retry for $params {
            fn request_state(&mut self) -> &mut Option<String> {
                &mut self.request_state
            }
            fn input_responses(&mut self) -> &mut Option<InputResponses> {
                &mut self.input_responses
            }
        }
    )*};
}
retry!(
    CallToolRequestParams,
    GetPromptRequestParams,
    ReadResourceRequestParams
);

/// Calls parked between rounds, by id.
type Parked = Mutex<HashMap<String, Waiting>>;

/// The round-trip machinery of one endpoint: its sealing key, parked calls and spent states.
pub(crate) struct Rounds {
    seals: Seals,
    parked: Arc<Parked>,
}

impl Default for Rounds {
    fn default() -> Self {
        Self {
            seals: Seals::new(),
            parked: Arc::default(),
        }
    }
}

/// One request of a round-trip client, as the gateway relays it.
pub(crate) struct RoundRequest<'a, P> {
    /// The upstream it goes to.
    pub(crate) upstream: Arc<Upstream>,
    /// The gateway's chain (policy, limits, guards, audit).
    pub(crate) chain: &'a Chain,
    /// What the chain sees, before policy or guards rewrote anything.
    pub(crate) ctx: CallContext,
    /// The downstream request.
    pub(crate) context: &'a RequestContext<RoleServer>,
    /// Where the upstream's live questions and progress go.
    pub(crate) downstream: Downstream,
    /// The request's parameters as the client sent them.
    pub(crate) params: P,
}

impl Rounds {
    /// Relays one round of a round-trip client's request: a first call, or a retry with the
    /// answers. `request` builds the upstream request from what the chain let through,
    /// `answer` picks the expected result out of the upstream's reply.
    pub(crate) async fn relay<P, T>(
        &self,
        relay: RoundRequest<'_, P>,
        request: impl FnOnce(CallContext, P) -> ClientRequest,
        answer: fn(ServerResult) -> Option<T>,
    ) -> Result<Round<T>, ErrorData>
    where
        P: Retry,
        T: Serialize + DeserializeOwned,
    {
        let RoundRequest {
            upstream,
            chain,
            ctx,
            context,
            downstream,
            mut params,
        } = relay;
        let binding = state::binding(&ctx);
        // This round's request hears the upstream's notices from now on, whichever round
        // started the call.
        let listener = Listener {
            peer: downstream.peer.clone(),
            progress: downstream.progress.clone(),
            log_level: context.meta.log_level(),
        };
        let ttl = upstream.spec().timeouts.call();
        let resume = match params.request_state().take() {
            None => Resume::Fresh,
            Some(sealed) => self.seals.open(&sealed, &binding)?,
        };
        // A retry with a state the gateway issued continues a call the limiter already
        // admitted; a new call, or a state used before, pays like any request.
        let chain = if resume.continues() {
            Chain {
                limit: Arc::new(AllowAll),
                ..chain.clone()
            }
        } else {
            chain.clone()
        };
        let caller = ctx.caller.clone();
        let name = upstream.name().to_owned();
        let toward_caller = downstream.clone();
        // Admitted at the HTTP front unless it is a retry with a state (see `admission`).
        let admitted = crate::admission::admitted(&chain, ctx, context).await?;
        chain
            .proceed(admitted, |ctx| async move {
                let responses = params.input_responses().take();
                let mut waiting = match resume {
                    Resume::Parked { call, round } => {
                        let mut waiting = self.unpark(&call, round)?;
                        if let Err(e) = waiting.answer(responses) {
                            self.park(waiting, ttl)?;
                            return Err(e);
                        }
                        waiting
                    }
                    Resume::Fresh | Resume::Upstream { .. } => {
                        *params.request_state() = match resume {
                            Resume::Upstream { state, .. } => state,
                            _ => None,
                        };
                        *params.input_responses() = responses;
                        start(upstream, request(ctx, params), downstream, caller, context)
                    }
                };
                match waiting.next(&context.ct, &listener).await {
                    Step::Done(reply) => {
                        let mut reply = (*reply)?;
                        // Marking a result cannot fail.
                        let _ =
                            era::to_caller(&toward_caller, FromUpstream::Result(&mut reply)).await;
                        match reply {
                            ServerResult::InputRequiredResult(mut pending) => {
                                // The upstream's own round: its state travels inside ours.
                                pending.request_state = Some(self.seals.upstream(
                                    pending.request_state.take(),
                                    &binding,
                                    ttl,
                                )?);
                                Ok(Round::InputRequired(pending))
                            }
                            reply => answer(reply).map(Round::Complete).ok_or_else(|| {
                                ErrorData::internal_error(
                                    format!(
                                        "upstream `{name}` answered with an unexpected result type"
                                    ),
                                    None,
                                )
                            }),
                        }
                    }
                    Step::Ask => {
                        waiting.round += 1;
                        let requests = waiting.input_requests();
                        let sealed =
                            self.seals
                                .parked(&waiting.call, waiting.round, &binding, ttl)?;
                        self.park(waiting, ttl)?;
                        Ok(Round::InputRequired(InputRequiredResult::new(
                            Some(requests),
                            Some(sealed),
                        )))
                    }
                }
            })
            .await
    }

    /// Takes the call parked as `call` if it is at `round` (a state is good for one retry).
    fn unpark(&self, call: &str, round: u32) -> Result<Waiting, ErrorData> {
        let mut parked = lock(&self.parked);
        match parked.remove(call) {
            Some(waiting) if waiting.round == round => Ok(waiting),
            Some(waiting) => {
                parked.insert(call.to_owned(), waiting);
                Err(state::stale())
            }
            None => Err(state::stale()),
        }
    }

    /// Parks `waiting` until its retry, or until `ttl` passes (then the upstream call is
    /// cancelled and its questions refused).
    fn park(&self, waiting: Waiting, ttl: Duration) -> Result<(), ErrorData> {
        let (call, round) = (waiting.call.clone(), waiting.round);
        {
            let mut parked = lock(&self.parked);
            if parked.len() >= MAX_PARKED {
                return Err(ErrorData::internal_error(
                    "too many calls are waiting for their clients' answers; try again later",
                    None,
                ));
            }
            parked.insert(call.clone(), waiting);
        }
        let parked: Weak<Parked> = Arc::downgrade(&self.parked);
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            if let Some(parked) = parked.upgrade() {
                let mut parked = lock(&parked);
                if parked.get(&call).is_some_and(|w| w.round == round) {
                    tracing::debug!(%call, "a parked call expired unanswered");
                    parked.remove(&call);
                }
            }
        });
        Ok(())
    }
}

fn lock(parked: &Parked) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
    parked.lock().unwrap_or_else(|e| e.into_inner())
}

/// The part of the client's capabilities the gateway can relay.
fn relayable(declared: Option<ClientCapabilities>) -> ClientCapabilities {
    let mut relayable = ClientCapabilities::default();
    if let Some(declared) = declared {
        relayable.elicitation = declared.elicitation;
        relayable.sampling = declared.sampling;
        relayable.roots = declared.roots;
    }
    relayable
}

/// Starts the upstream call in its own task, so it outlives this round if it is parked.
fn start(
    upstream: Arc<Upstream>,
    request: ClientRequest,
    mut downstream: Downstream,
    caller: Option<Arc<Caller>>,
    context: &RequestContext<RoleServer>,
) -> Waiting {
    let (events, receiver) = mpsc::channel(16);
    downstream.round_trip = Some(RoundTrip::new(
        events.clone(),
        relayable(context.client_capabilities()),
    ));
    let cancel = CancellationToken::new();
    let ct = cancel.clone();
    tokio::spawn(async move {
        let result = upstream
            .request(request, Some(downstream), caller.as_deref(), &ct)
            .await;
        let _ = events.send(Event::Done(result)).await;
    });
    Waiting::new(state::random_id(), receiver, cancel.drop_guard())
}
