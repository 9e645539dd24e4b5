//! The questions [`Ask`](super::Ask) can put to a client, and their answers.

// Sampling and roots are deprecated by SEP-2577 yet still served.
#![allow(deprecated)]

use rmcp::{
    ErrorData,
    model::{
        CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, ElicitRequest,
        ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema, InputRequest,
        ListRootsRequest, ListRootsResult,
    },
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Elicited, Suspend};

/// One question of a batch asked with [`Ask::all`]. `key` names it uniquely within the
/// request: it keys the answer across round trips.
#[derive(Debug, Clone)]
pub enum Question {
    /// A form shaped by `schema`.
    Form {
        /// The answer's key.
        key: String,
        /// What the person is asked.
        message: String,
        /// The fields of the form.
        schema: ElicitationSchema,
    },
    /// A completion from the client's model.
    Sample {
        /// The answer's key.
        key: String,
        /// The sampling request.
        params: CreateMessageRequestParams,
    },
    /// The client's roots (the directories or files it exposes).
    Roots {
        /// The answer's key.
        key: String,
    },
}

impl Question {
    /// A form question.
    pub fn form(key: &str, message: &str, schema: ElicitationSchema) -> Self {
        Self::Form {
            key: key.to_owned(),
            message: message.to_owned(),
            schema,
        }
    }

    /// A sampling question.
    pub fn sample(key: &str, params: CreateMessageRequestParams) -> Self {
        Self::Sample {
            key: key.to_owned(),
            params,
        }
    }

    /// A roots question.
    pub fn roots(key: &str) -> Self {
        Self::Roots {
            key: key.to_owned(),
        }
    }

    /// The key that names this question's answer.
    pub fn key(&self) -> &str {
        match self {
            Self::Form { key, .. } | Self::Sample { key, .. } | Self::Roots { key } => key,
        }
    }

    pub(super) fn into_request(self) -> InputRequest {
        match self {
            Self::Form {
                message, schema, ..
            } => InputRequest::Elicitation(ElicitRequest::new(form_params(message, schema))),
            Self::Sample { params, .. } => {
                InputRequest::CreateMessage(CreateMessageRequest::new(params))
            }
            Self::Roots { .. } => InputRequest::ListRoots(ListRootsRequest::default()),
        }
    }
}

/// The answer to one [`Question`]. `None` and [`Elicited::Unsupported`] mean the client did
/// not declare the capability, so the tool should fall back.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The answer to [`Question::Form`]; accepted content is the raw form content.
    Form(Elicited<Value>),
    /// The answer to [`Question::Sample`].
    Sample(Option<CreateMessageResult>),
    /// The answer to [`Question::Roots`].
    Roots(Option<ListRootsResult>),
}

pub(super) fn form_params(message: String, schema: ElicitationSchema) -> ElicitRequestParams {
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema,
    }
}

pub(super) fn elicited(answer: ElicitResult) -> Elicited<Value> {
    match answer.action {
        ElicitationAction::Accept => {
            Elicited::Accepted(answer.content.unwrap_or(Value::Object(Default::default())))
        }
        ElicitationAction::Decline => Elicited::Declined,
        _ => Elicited::Cancelled,
    }
}

/// Reads a client's answer to `question`; one of the wrong shape fails the call rather than
/// being asked again, so a buggy client sees its mistake instead of looping.
pub(super) fn parse_answer(question: &Question, value: &Value) -> Result<Answer, Suspend> {
    fn parse<T: DeserializeOwned>(key: &str, value: &Value) -> Result<T, Suspend> {
        T::deserialize(value).map_err(|e| {
            Suspend::Failed(ErrorData::invalid_params(
                format!("inputResponses[`{key}`] is malformed: {e}"),
                None,
            ))
        })
    }
    let key = question.key();
    Ok(match question {
        Question::Form { .. } => Answer::Form(elicited(parse(key, value)?)),
        Question::Sample { .. } => Answer::Sample(Some(parse(key, value)?)),
        Question::Roots { .. } => Answer::Roots(Some(parse(key, value)?)),
    })
}
