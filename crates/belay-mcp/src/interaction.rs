//! Era-neutral questions from a tool to its client: elicitation, sampling and roots.
//!
//! Handshake-era clients (2025-03-26 to 2025-11-25) are asked with a server-to-client
//! request while the tool call is still open. 2026-07-28 clients forbid that: the tool must
//! answer with an `input_required` result, and the client retries the call with the answers
//! (multi round-trip requests, SEP-2322). [`Ask`] hides the difference, so a tool is written
//! once as straight-line code:
//!
//! ```text
//! let choice = ask.elicit::<WeekRange>("week_range", "Include the 52-week range?").await?;
//! ```
//!
//! In the round-trip era the tool body is *replayed* on every retry. Answers already given
//! travel in `requestState`, sealed with an HMAC so the client cannot forge them; the first
//! question without an answer suspends the call with [`Suspend::InputRequired`]. A tool
//! body must therefore do nothing irreversible before its last question, which holds for
//! every reference server (they only read data). Questions that do not depend on each
//! other can be asked together with [`Ask::all`], which costs one round trip for all.

// Sampling and roots are deprecated by SEP-2577 yet part of every revision Belay serves,
// so their types are used here on purpose.
#![allow(deprecated)]

mod question;

use std::sync::OnceLock;

pub use question::{Answer, Question};
use question::{elicited, form_params, parse_answer};
use rmcp::{
    ErrorData, RoleServer,
    handler::server::{common::FromContextPart, tool::ToolCallContext},
    model::{
        CallToolResponse, CallToolResult, ClientCapabilities, CreateMessageRequestParams,
        CreateMessageResult, ElicitationSchema, InputRequests, InputRequiredResult, InputResponses,
        ListRootsResult, RequestStateCodec,
    },
    service::RequestContext,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

/// What a person (or their client) did with an elicitation.
#[derive(Debug, Clone, PartialEq)]
pub enum Elicited<T> {
    /// They filled in the form; the content matched the requested schema.
    Accepted(T),
    /// They said no.
    Declined,
    /// They dismissed the form without choosing.
    Cancelled,
    /// The client cannot show forms (it did not declare the elicitation capability).
    /// Tools fall back to a sensible default instead of failing.
    Unsupported,
}

/// Why a tool cannot finish right now.
#[derive(Debug)]
pub enum Suspend {
    /// Round-trip era: the client must answer these requests and call again.
    InputRequired(Box<InputRequiredResult>),
    /// The exchange failed (bad answer, transport error): the call ends with this error.
    Failed(ErrorData),
}

impl From<ErrorData> for Suspend {
    fn from(error: ErrorData) -> Self {
        Self::Failed(error)
    }
}

/// Turns a tool body's outcome into what rmcp sends: the final result, an
/// `input_required` result, or a JSON-RPC error.
pub trait IntoToolResponse {
    /// Converts `self` into the response for `tools/call`.
    fn into_response(self) -> Result<CallToolResponse, ErrorData>;
}

impl IntoToolResponse for Result<CallToolResult, Suspend> {
    fn into_response(self) -> Result<CallToolResponse, ErrorData> {
        respond(self)
    }
}

/// Turns the outcome of any request that may ask for input (`tools/call`, `prompts/get`,
/// `resources/read`) into its rmcp response, e.g. `Result<GetPromptResult, Suspend>` into
/// `Result<GetPromptResponse, ErrorData>`.
pub fn respond<T, R>(outcome: Result<T, Suspend>) -> Result<R, ErrorData>
where
    R: From<T> + From<InputRequiredResult>,
{
    match outcome {
        Ok(result) => Ok(result.into()),
        Err(Suspend::InputRequired(pending)) => Ok((*pending).into()),
        Err(Suspend::Failed(error)) => Err(error),
    }
}

/// Asks the client for input on behalf of one request. In a tool, take it as an argument:
/// it is extracted from the call like `Parameters<T>`. Elsewhere (`prompts/get`), build it
/// with [`Ask::new`].
#[derive(Debug)]
pub struct Ask {
    context: RequestContext<RoleServer>,
    capabilities: Option<ClientCapabilities>,
    era: Era,
}

#[derive(Debug)]
enum Era {
    /// Server-to-client requests on the open call.
    Live,
    /// `input_required` results; `answered` holds every answer given so far.
    RoundTrip { answered: InputResponses },
}

impl Ask {
    /// Builds an `Ask` for a request. `request_state` and `input_responses` are the fields of
    /// the retried request (absent on the first round and in the handshake era).
    pub fn new(
        context: RequestContext<RoleServer>,
        request_state: Option<&str>,
        input_responses: Option<InputResponses>,
    ) -> Result<Self, ErrorData> {
        let capabilities = context.client_capabilities();
        let era = if crate::era::request_is_round_trip(&context) {
            let mut answered = match request_state {
                Some(sealed) => codec().open_json::<InputResponses>(sealed).map_err(|_| {
                    ErrorData::invalid_params(
                        "requestState is invalid, tampered with or expired; \
                         repeat the call without requestState and inputResponses",
                        None,
                    )
                })?,
                None => InputResponses::new(),
            };
            answered.extend(input_responses.unwrap_or_default());
            Era::RoundTrip { answered }
        } else {
            Era::Live
        };
        Ok(Self {
            context,
            capabilities,
            era,
        })
    }

    /// True when the client declared that it can show elicitation forms.
    pub fn can_elicit(&self) -> bool {
        self.capabilities
            .as_ref()
            .is_some_and(|c| c.elicitation.is_some())
    }

    /// True when the client declared that it can sample from its model.
    pub fn can_sample(&self) -> bool {
        self.capabilities
            .as_ref()
            .is_some_and(|c| c.sampling.is_some())
    }

    /// True when the client declared that it can list its roots.
    pub fn can_list_roots(&self) -> bool {
        self.capabilities
            .as_ref()
            .is_some_and(|c| c.roots.is_some())
    }

    /// Asks the person to fill in a form shaped like `T`. `key` names this question
    /// uniquely within the tool (it keys the answer across round trips).
    pub async fn elicit<T>(&self, key: &str, message: &str) -> Result<Elicited<T>, Suspend>
    where
        T: JsonSchema + DeserializeOwned,
    {
        let schema = ElicitationSchema::from_type::<T>().map_err(|e| {
            ErrorData::internal_error(format!("elicitation schema for `{key}`: {e}"), None)
        })?;
        self.elicit_with(key, message, schema).await
    }

    /// Like [`Ask::elicit`], with a hand-written `schema` for forms a Rust type cannot
    /// describe (titled enums, defaults); the accepted content must deserialize as `T`.
    pub async fn elicit_with<T: DeserializeOwned>(
        &self,
        key: &str,
        message: &str,
        schema: ElicitationSchema,
    ) -> Result<Elicited<T>, Suspend> {
        let Some(Answer::Form(answer)) = self.one(Question::form(key, message, schema)).await?
        else {
            return Err(mismatched(key));
        };
        Ok(match answer {
            Elicited::Accepted(content) => {
                Elicited::Accepted(serde_json::from_value(content).map_err(|e| {
                    ErrorData::invalid_params(
                        format!("the answer to `{key}` does not match the requested form: {e}"),
                        None,
                    )
                })?)
            }
            Elicited::Declined => Elicited::Declined,
            Elicited::Cancelled => Elicited::Cancelled,
            Elicited::Unsupported => Elicited::Unsupported,
        })
    }

    /// Asks the client's model for a completion. Returns `None` when the client cannot
    /// sample, so the tool can fall back.
    pub async fn sample(
        &self,
        key: &str,
        params: CreateMessageRequestParams,
    ) -> Result<Option<CreateMessageResult>, Suspend> {
        match self.one(Question::sample(key, params)).await? {
            Some(Answer::Sample(result)) => Ok(result),
            _ => Err(mismatched(key)),
        }
    }

    /// Asks the client for its roots. Returns `None` when the client has none to offer.
    pub async fn list_roots(&self, key: &str) -> Result<Option<ListRootsResult>, Suspend> {
        match self.one(Question::roots(key)).await? {
            Some(Answer::Roots(result)) => Ok(result),
            _ => Err(mismatched(key)),
        }
    }

    /// Asks several independent questions at once and returns their answers in order.
    /// A round-trip client gets every unanswered question in one `input_required` result;
    /// a handshake-era client is asked them one after the other.
    pub async fn all(&self, questions: Vec<Question>) -> Result<Vec<Answer>, Suspend> {
        let mut answers = Vec::with_capacity(questions.len());
        let mut missing = InputRequests::new();
        for question in questions {
            if let Some(unsupported) = self.unsupported(&question) {
                answers.push(unsupported);
                continue;
            }
            match &self.era {
                Era::Live => answers.push(self.ask_live(question).await?),
                Era::RoundTrip { answered } => match answered.get(question.key()) {
                    Some(value) => answers.push(parse_answer(&question, value)?),
                    None => {
                        missing.insert(question.key().to_owned(), question.into_request());
                    }
                },
            }
        }
        if missing.is_empty() {
            Ok(answers)
        } else {
            Err(self.suspend(missing))
        }
    }

    /// The request context of the call, for progress, logging and cancellation.
    pub fn context(&self) -> &RequestContext<RoleServer> {
        &self.context
    }

    async fn one(&self, question: Question) -> Result<Option<Answer>, Suspend> {
        Ok(self.all(vec![question]).await?.pop())
    }

    fn unsupported(&self, question: &Question) -> Option<Answer> {
        match question {
            Question::Form { .. } if !self.can_elicit() => {
                Some(Answer::Form(Elicited::Unsupported))
            }
            Question::Sample { .. } if !self.can_sample() => Some(Answer::Sample(None)),
            Question::Roots { .. } if !self.can_list_roots() => Some(Answer::Roots(None)),
            _ => None,
        }
    }

    async fn ask_live(&self, question: Question) -> Result<Answer, Suspend> {
        let peer = &self.context.peer;
        let failed = |what: &str, e: rmcp::ServiceError| {
            Suspend::Failed(ErrorData::internal_error(
                format!("{what} failed: {e}"),
                None,
            ))
        };
        Ok(match question {
            Question::Form {
                message, schema, ..
            } => Answer::Form(elicited(
                peer.create_elicitation(form_params(message, schema))
                    .await
                    .map_err(|e| failed("elicitation", e))?,
            )),
            Question::Sample { params, .. } => Answer::Sample(Some(
                peer.create_message(params)
                    .await
                    .map_err(|e| failed("sampling", e))?,
            )),
            Question::Roots { .. } => Answer::Roots(Some(
                peer.list_roots()
                    .await
                    .map_err(|e| failed("roots/list", e))?,
            )),
        })
    }

    fn suspend(&self, requests: InputRequests) -> Suspend {
        let Era::RoundTrip { answered } = &self.era else {
            return Suspend::Failed(ErrorData::internal_error(
                "suspend outside round trip",
                None,
            ));
        };
        match codec().seal_json(answered) {
            Ok(sealed) => Suspend::InputRequired(Box::new(InputRequiredResult::new(
                Some(requests),
                Some(sealed),
            ))),
            Err(e) => Suspend::Failed(ErrorData::internal_error(
                format!("cannot seal requestState: {e}"),
                None,
            )),
        }
    }
}

impl<S> FromContextPart<ToolCallContext<'_, S>> for Ask {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, ErrorData> {
        let state = context.request_state.take();
        let responses = context.input_responses.take();
        Ask::new(context.request_context.clone(), state.as_deref(), responses)
    }
}

fn mismatched(key: &str) -> Suspend {
    Suspend::Failed(ErrorData::internal_error(
        format!("no answer of the asked kind for `{key}`"),
        None,
    ))
}

/// The key that seals `requestState`. It is random per process: answers in flight do not
/// survive a restart, which only costs the client one extra round trip.
fn codec() -> &'static RequestStateCodec {
    static CODEC: OnceLock<RequestStateCodec> = OnceLock::new();
    CODEC.get_or_init(|| {
        let key: Vec<u8> = (0..2)
            .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
            .collect();
        // `new` is deprecated only to steer callers to keys of at least 32 bytes; ours is 32.
        RequestStateCodec::new(key)
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_answers_open_and_tampering_is_refused() {
        let mut answers = InputResponses::new();
        answers.insert("k".into(), serde_json::json!({"action": "decline"}));
        let sealed = codec().seal_json(&answers).expect("seal");
        let opened: InputResponses = codec().open_json(&sealed).expect("open");
        assert_eq!(opened, answers);
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert!(codec().open_json::<InputResponses>(&tampered).is_err());
    }
}
