//! The JSON edge of task-augmented questions on an upstream connection: what rmcp's model
//! cannot carry, handled on the messages as they travel.
//!
//! * [`divert`]: a `sampling/createMessage` or `elicitation/create` with `params.task`
//!   becomes the custom request [`DIVERTED`] (the method and params inside, untouched), so
//!   rmcp hands it to [`crate::upstream_client::UpstreamClient`]'s custom-request handler whole,
//!   instead of parsing it as a plain question and dropping `task`; its answer, a task,
//!   goes back as a custom result.
//! * [`declare`]: the gateway's `initialize` gets the `tasks` capability
//!   ([`super::advertised`]), which rmcp's `ClientCapabilities` has no field for.
//!
//! [`TaskAwareHttp`] does both for a Streamable HTTP upstream, under rmcp's transport (its
//! SSE events are still text there). An upstream whose messages the gateway cannot see as
//! text is not told the gateway runs tasks, so it never sends one.

use std::{collections::HashMap, sync::Arc};

use futures::{StreamExt, stream::BoxStream};
use http::{HeaderName, HeaderValue};
use rmcp::{
    model::{ClientJsonRpcMessage, ClientRequest, CustomRequest, JsonRpcMessage},
    transport::streamable_http_client::{
        SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use serde_json::{Value, json};
use sse_stream::Sse;

use super::{Kind, advertised};

/// The method a diverted task-augmented question arrives under; its params are
/// `{"method": <the question's method>, "params": <its params, task included>}`.
pub(crate) const DIVERTED: &str = "belay.gateway/task-augmented";

/// `message` (one JSON-RPC message an upstream sent, as text) with a task-augmented question
/// diverted to [`DIVERTED`]; `None` for anything else, which goes on as it came.
pub(crate) fn divert(message: &str) -> Option<String> {
    // Most messages are not one: skip parsing those.
    if !message.contains("\"task\"") {
        return None;
    }
    let mut message: Value = serde_json::from_str(message).ok()?;
    let object = message.as_object_mut()?;
    // A request has an id; a notification is never a question.
    object.get("id")?;
    Kind::of_method(object.get("method")?.as_str()?)?;
    if !object.get("params")?.get("task")?.is_object() {
        return None;
    }
    let method = object.insert("method".into(), json!(DIVERTED))?;
    let params = object.remove("params")?;
    object.insert(
        "params".into(),
        json!({ "method": method, "params": params }),
    );
    serde_json::to_string(&message).ok()
}

/// `message` with the gateway's `tasks` capability declared, if it is the `initialize`
/// request; sent as a custom request of the same method, since rmcp's own type drops it.
pub(crate) fn declare(message: ClientJsonRpcMessage) -> ClientJsonRpcMessage {
    let JsonRpcMessage::Request(mut request) = message else {
        return message;
    };
    if let ClientRequest::InitializeRequest(initialize) = &request.request
        && let Ok(mut value) = serde_json::to_value(initialize)
        && let Some(capabilities) = value
            .get_mut("params")
            .and_then(|p| p.get_mut("capabilities"))
            .and_then(Value::as_object_mut)
    {
        capabilities.insert("tasks".into(), advertised());
        let params = value.get_mut("params").map(Value::take);
        request.request = ClientRequest::CustomRequest(CustomRequest::new("initialize", params));
    }
    JsonRpcMessage::Request(request)
}

/// The HTTP client of a Streamable HTTP upstream, with [`declare`] on what it posts and
/// [`divert`] on every SSE event it receives.
#[derive(Clone)]
pub(crate) struct TaskAwareHttp<C> {
    inner: C,
}

impl<C> TaskAwareHttp<C> {
    pub(crate) fn new(inner: C) -> Self {
        Self { inner }
    }
}

type Events = BoxStream<'static, Result<Sse, SseError>>;

fn diverted(events: Events) -> Events {
    events
        .map(|event| {
            event.map(|mut sse| {
                if let Some(data) = sse.data.as_deref().and_then(divert) {
                    sse.data = Some(data);
                }
                sse
            })
        })
        .boxed()
}

fn diverted_response(response: StreamableHttpPostResponse) -> StreamableHttpPostResponse {
    match response {
        // A JSON body is the answer to the message posted, never a question.
        StreamableHttpPostResponse::Sse(events, session) => {
            StreamableHttpPostResponse::Sse(diverted(events), session)
        }
        other => other,
    }
}

impl<C: StreamableHttpClient + Sync> StreamableHttpClient for TaskAwareHttp<C> {
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let response = self
            .inner
            .post_message(
                uri,
                declare(message),
                session_id,
                auth_header,
                custom_headers,
            )
            .await?;
        Ok(diverted_response(response))
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let response = self
            .inner
            .post_message_with_response_limits(
                uri,
                declare(message),
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await?;
        Ok(diverted_response(response))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<Events, StreamableHttpError<Self::Error>> {
        let events = self
            .inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await?;
        Ok(diverted(events))
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<Events, StreamableHttpError<Self::Error>> {
        let events = self
            .inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await?;
        Ok(diverted(events))
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ClientCapabilities, Implementation, InitializeRequest, RequestId};

    use super::*;

    #[test]
    fn a_task_augmented_question_is_diverted_whole() -> serde_json::Result<()> {
        for method in ["sampling/createMessage", "elicitation/create"] {
            let params = json!({"task": {"ttl": 5000}, "message": "hi", "_meta": {"k": 1}});
            let sent = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
            let got: Value = serde_json::from_str(
                &divert(&sent.to_string()).unwrap_or_else(|| panic!("{method} not diverted")),
            )?;
            assert_eq!(
                got,
                json!({"jsonrpc": "2.0", "id": 7, "method": DIVERTED,
                       "params": {"method": method, "params": params}})
            );
        }
        Ok(())
    }

    #[test]
    fn everything_else_goes_on_as_it_came() {
        let untouched = [
            // A plain question.
            json!({"jsonrpc": "2.0", "id": 1, "method": "sampling/createMessage", "params": {"maxTokens": 1}}),
            // `task` that is not the task parameter.
            json!({"jsonrpc": "2.0", "id": 1, "method": "elicitation/create", "params": {"message": "\"task\""}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "elicitation/create", "params": {"task": true}}),
            // Another method, a notification, an answer.
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"task": {}}}),
            json!({"jsonrpc": "2.0", "method": "sampling/createMessage", "params": {"task": {}}}),
            json!({"jsonrpc": "2.0", "id": 1, "result": {"task": {"taskId": "t"}}}),
        ];
        for message in untouched {
            assert_eq!(divert(&message.to_string()), None, "{message}");
        }
        assert_eq!(divert("{\"task\": not json"), None);
    }

    #[test]
    fn the_initialize_declares_tasks_and_nothing_else_changes() -> serde_json::Result<()> {
        let capabilities = ClientCapabilities::builder().enable_elicitation().build();
        let params = rmcp::model::InitializeRequestParams::new(
            capabilities,
            Implementation::new("belay-gateway", "1"),
        );
        let message = ClientJsonRpcMessage::request(
            ClientRequest::InitializeRequest(InitializeRequest::new(params)),
            RequestId::Number(0),
        );
        let mut expected = serde_json::to_value(&message)?;
        let after = serde_json::to_value(declare(message))?;
        expected["params"]["capabilities"]["tasks"] = advertised();
        assert_eq!(after, expected);

        let ping = ClientJsonRpcMessage::request(
            ClientRequest::PingRequest(Default::default()),
            RequestId::Number(1),
        );
        let before = serde_json::to_value(&ping)?;
        assert_eq!(serde_json::to_value(declare(ping))?, before);
        Ok(())
    }
}
