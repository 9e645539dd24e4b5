//! What an upstream sends, checked before rmcp sees it, on every transport.
//!
//! rmcp matches answers to requests by id and quietly drops one that matches nothing, skips
//! an SSE event that is not a JSON-RPC message, and runs every notification: the call
//! the upstream failed to answer then waits for its timeout, and a flood is held in full.
//! [`Checked`] wraps the transport: an answer to an id the gateway never sent (or already
//! had answered) ends the connection, naming the id; notifications go through
//! [`Conduct::admit`], requests through [`Conduct::admit_question`]. [`CheckedHttp`] wraps the HTTP client of a Streamable HTTP upstream:
//! an event that is not a JSON-RPC message ends the connection, quoting it (a legacy SSE
//! upstream's events get the same check through its transport's
//! `on_invalid_message`, [`unreadable_event`]).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
};

use futures::{StreamExt, future::BoxFuture, stream::BoxStream};
use http::{HeaderName, HeaderValue};
use rmcp::{
    RoleClient,
    model::{
        ClientJsonRpcMessage, ClientNotification, JsonRpcMessage, RequestId, ServerJsonRpcMessage,
    },
    transport::{
        Transport,
        streamable_http_client::{
            SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
            StreamableHttpResponseLimits,
        },
    },
};
use serde::{Deserialize, de::IgnoredAny};
use sse_stream::Sse;
use tokio::sync::mpsc;

use super::conduct::{Conduct, question_refused};

/// Requests given up on (timed out or cancelled) whose late answers are still recognised.
const GIVEN_UP: usize = 1024;

/// Refusals of the upstream's requests waiting to be sent; more are not sent (an upstream
/// that floods requests and reads none of the answers gets no more of them).
const REFUSALS: usize = 64;

/// A transport whose upstream is not taken on trust (see the module).
pub(crate) struct Checked<T> {
    inner: T,
    conduct: Arc<Conduct>,
    /// Requests sent (or being sent) and not yet answered; one whose sending fails is
    /// forgotten by the send.
    outstanding: Arc<Mutex<HashSet<RequestId>>>,
    /// The newest requests given up on: an answer to one is late, not wrong.
    given_up: VecDeque<RequestId>,
    /// Refusals to send, by a task of their own (see [`Self::refuse`]).
    refusals: mpsc::Sender<BoxFuture<'static, ()>>,
}

impl<T> Checked<T> {
    pub(crate) fn new(inner: T, conduct: Arc<Conduct>) -> Self {
        let (refusals, mut to_send) = mpsc::channel::<BoxFuture<'static, ()>>(REFUSALS);
        tokio::spawn(async move {
            while let Some(refusal) = to_send.recv().await {
                refusal.await;
            }
        });
        Self {
            inner,
            conduct,
            outstanding: Arc::default(),
            given_up: VecDeque::new(),
            refusals,
        }
    }

    fn outstanding(&self) -> std::sync::MutexGuard<'_, HashSet<RequestId>> {
        self.outstanding.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an answer to `id` is expected (or late); forgets it either way.
    fn expected(&mut self, id: &RequestId) -> bool {
        if self.outstanding().remove(id) {
            return true;
        }
        match self.given_up.iter().position(|given| given == id) {
            Some(at) => {
                self.given_up.remove(at);
                tracing::debug!(%id, "a late answer to a request given up on, ignored");
                true
            }
            None => false,
        }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Checked<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let mut request = None;
        match &item {
            JsonRpcMessage::Request(sent) => {
                self.outstanding().insert(sent.id.clone());
                request = Some(sent.id.clone());
            }
            JsonRpcMessage::Notification(notification) => {
                if let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                    && let Some(id) = &cancelled.params.request_id
                    && self.outstanding().remove(id)
                {
                    if self.given_up.len() == GIVEN_UP {
                        self.given_up.pop_front();
                    }
                    self.given_up.push_back(id.clone());
                }
            }
            _ => {}
        }
        let sending = self.inner.send(item);
        let outstanding = self.outstanding.clone();
        async move {
            let sent = sending.await;
            // Never sent, so never answered: its caller has the error.
            if let (Err(_), Some(id)) = (&sent, request) {
                outstanding
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            }
            sent
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            let mut message = tokio::select! {
                biased;
                () = self.conduct.ending() => return None,
                message = self.inner.receive() => message?,
            };
            let answered = match &message {
                JsonRpcMessage::Response(response) => Some(response.id.clone()),
                JsonRpcMessage::Error(error) => {
                    if let Some(id) = &error.id
                        && closed_stream(&error.error)
                    {
                        let why = format!("its transport failed ({})", error.error.message);
                        self.conduct.note(id.clone(), why);
                    }
                    error.id.clone()
                }
                JsonRpcMessage::Notification(_) | JsonRpcMessage::Request(_) => None,
            };
            if let Some(id) = answered
                && !self.expected(&id)
            {
                self.conduct.end(format!(
                    "it answered request id {id}, which the gateway never sent or had \
                     already had an answer to"
                ));
                return None;
            }
            if let JsonRpcMessage::Notification(notification) = &mut message
                && !self.conduct.admit(&mut notification.notification)
            {
                continue;
            }
            if let JsonRpcMessage::Request(request) = &mut message
                && !self.conduct.admit_question(&mut request.request)
            {
                self.refuse(request.id.clone());
                continue;
            }
            return Some(message);
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

impl<T: Transport<RoleClient>> Checked<T> {
    /// Answers the upstream's request `id`, which it had no slot for, with an error. The
    /// answer is sent apart from reading (an upstream that writes before it reads would
    /// otherwise stop the reading), and is not sent at all once [`REFUSALS`] wait: rmcp
    /// never sees the request, so it holds no task for it.
    fn refuse(&mut self, id: RequestId) {
        let refusal =
            ClientJsonRpcMessage::error(question_refused(self.conduct.upstream()), Some(id));
        let send = self.inner.send(refusal);
        let queued = self.refusals.try_send(Box::pin(async move {
            let _ = send.await;
        }));
        if queued.is_err() {
            tracing::debug!(upstream = %self.conduct.upstream(), "a refusal was not sent: the upstream reads none");
        }
    }
}

/// Whether `error` is the one rmcp's HTTP transport makes for a request whose response
/// stream ended unanswered (it marks its data so; the check for the marker is private).
fn closed_stream(error: &rmcp::ErrorData) -> bool {
    const MARKER: &str = "io.modelcontextprotocol/transportClosed";
    error
        .data
        .as_ref()
        .is_some_and(|data| data.get(MARKER).is_some())
}

/// The HTTP client of a Streamable HTTP upstream, checking each SSE event it receives.
#[derive(Clone)]
pub(crate) struct CheckedHttp<C> {
    inner: C,
    conduct: Arc<Conduct>,
}

impl<C> CheckedHttp<C> {
    pub(crate) fn new(inner: C, conduct: Arc<Conduct>) -> Self {
        Self { inner, conduct }
    }

    /// `stream`, ended (and the connection with it) at the first message event that is
    /// not a JSON-RPC message. A failure of the stream of request `request` is noted for
    /// its caller.
    fn check(
        &self,
        stream: BoxStream<'static, Result<Sse, SseError>>,
        request: Option<RequestId>,
    ) -> BoxStream<'static, Result<Sse, SseError>> {
        let conduct = self.conduct.clone();
        stream
            .take_while(move |event| {
                let keep = match event {
                    Ok(sse) => match unfit(sse) {
                        Some(why) => {
                            conduct.end(why);
                            false
                        }
                        None => true,
                    },
                    Err(e) => {
                        if let Some(id) = &request {
                            conduct.note(id.clone(), format!("its response stream failed: {e}"));
                        }
                        true
                    }
                };
                std::future::ready(keep)
            })
            .boxed()
    }
}

/// The least a JSON-RPC message has; parsing into it checks the JSON without building it.
#[derive(Deserialize)]
struct Shape {
    jsonrpc: Option<String>,
    method: Option<IgnoredAny>,
    result: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
}

/// Why the message event `sse` cannot be taken, if it cannot.
fn unfit(sse: &Sse) -> Option<String> {
    // Other events (`endpoint`, `ping`, …) are the transport's business.
    if !matches!(sse.event.as_deref(), None | Some("" | "message")) {
        return None;
    }
    // An event with no data primes a stream for resumption (SEP-1699): nothing to parse.
    let data = sse.data.as_deref().filter(|d| !d.trim().is_empty())?;
    unfit_message(data)
}

/// Why `data`, sent as one message, is not a JSON-RPC message, if it is not.
pub(crate) fn unfit_message(data: &str) -> Option<String> {
    let what = match serde_json::from_str::<Shape>(data) {
        Ok(shape)
            if shape.jsonrpc.as_deref() == Some("2.0")
                && (shape.method.is_some() || shape.result.is_some() || shape.error.is_some()) =>
        {
            return None;
        }
        Ok(_) => "an event that is not a JSON-RPC message",
        Err(e) if e.is_data() => "an event that is not a JSON-RPC message",
        Err(_) => "an event that is not JSON",
    };
    Some(format!("it sent {what} (`{}`)", excerpt(data)))
}

/// Ends `conduct`'s connection because the upstream sent `data`, which rmcp cannot read
/// as a message (`error`): the same words as over Streamable HTTP, or what rmcp says
/// about a message that is JSON-RPC in shape and wrong inside.
pub(crate) fn unreadable_event(conduct: &Conduct, data: &str, error: &serde_json::Error) {
    conduct.end(unfit_message(data).unwrap_or_else(|| {
        format!(
            "it sent a message the gateway cannot read (`{}`): {error}",
            excerpt(data)
        )
    }));
}

/// The start of `text`, for an error message: at most 80 characters, control characters
/// replaced.
pub(crate) fn excerpt(text: &str) -> String {
    let mut shown: String = text
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().nth(80).is_some() {
        shown.push('…');
    }
    shown
}

fn request_id(message: &ClientJsonRpcMessage) -> Option<RequestId> {
    match message {
        JsonRpcMessage::Request(request) => Some(request.id.clone()),
        _ => None,
    }
}

type HttpResult<T, E> = Result<T, StreamableHttpError<E>>;

impl<C: StreamableHttpClient + Sync> StreamableHttpClient for CheckedHttp<C> {
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse, C::Error> {
        let limits = StreamableHttpResponseLimits::default();
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<StreamableHttpPostResponse, C::Error> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> HttpResult<StreamableHttpPostResponse, C::Error> {
        let request = request_id(&message);
        let response = self
            .inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await?;
        Ok(match response {
            StreamableHttpPostResponse::Sse(stream, session) => {
                StreamableHttpPostResponse::Sse(self.check(stream, request), session)
            }
            other => other,
        })
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<(), C::Error> {
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
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>, C::Error> {
        let stream = self
            .inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await?;
        Ok(self.check(stream, None))
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>, C::Error> {
        let stream = self
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
        Ok(self.check(stream, None))
    }
}

#[cfg(test)]
mod tests {
    use rmcp::{model::NumberOrString, transport::async_rw::AsyncRwTransport};
    use serde_json::json;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_late_answer_passes_and_an_answer_to_nobody_ends_the_connection() {
        let (gateway_end, upstream_end) = tokio::io::duplex(64 * 1024);
        let (read, write) = tokio::io::split(gateway_end);
        let conduct = Conduct::new("unruly", Arc::default());
        let mut checked = Checked::new(
            AsyncRwTransport::<RoleClient, _, _>::new(read, write),
            conduct.clone(),
        );
        let sent = [
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
        ];
        for message in sent {
            let message = serde_json::from_value(message).expect("a client message");
            checked.send(message).await.expect("sent");
        }
        let (_, mut upstream) = tokio::io::split(upstream_end);
        let answers =
            [1, 2, 99].map(|id| format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{}}}}\n"));
        upstream
            .write_all(answers.concat().as_bytes())
            .await
            .expect("written");
        // The late answer goes on to rmcp, which forgets the request with it.
        for id in [1, 2] {
            let answer = checked.receive().await.expect("an answer");
            assert!(
                matches!(&answer, JsonRpcMessage::Response(r) if r.id == NumberOrString::Number(id)),
                "{answer:?}"
            );
        }
        assert!(
            checked.receive().await.is_none(),
            "an answer to nobody ends it"
        );
        let ended = conduct.ended().unwrap_or_default();
        assert!(ended.contains("answered request id 99"), "{ended}");
    }

    #[tokio::test]
    async fn a_question_beyond_the_open_ones_is_answered_with_an_error_and_not_passed_on() {
        let (gateway_end, upstream_end) = tokio::io::duplex(64 * 1024);
        let (read, write) = tokio::io::split(gateway_end);
        let conduct = Conduct::new("curious", Arc::default());
        let mut checked = Checked::new(
            AsyncRwTransport::<RoleClient, _, _>::new(read, write),
            conduct.clone(),
        );
        let (upstream_reads, mut upstream) = tokio::io::split(upstream_end);
        let extra = super::super::conduct::MAX_QUESTIONS + 1;
        let questions: String = (1..=extra)
            .map(|id| format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"roots/list\"}}\n"))
            .chain(["{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}\n".to_owned()])
            .collect();
        upstream
            .write_all(questions.as_bytes())
            .await
            .expect("written");
        let mut passed = Vec::new();
        for _ in 0..extra {
            match checked.receive().await.expect("a request") {
                JsonRpcMessage::Request(request) => passed.push(request),
                other => panic!("{other:?}"),
            }
        }
        let last = &passed[passed.len() - 1];
        assert_eq!(
            last.id,
            NumberOrString::Number(0),
            "the ping after the refused one"
        );
        let mut lines = tokio::io::BufReader::new(upstream_reads).lines();
        let refusal = tokio::time::timeout(std::time::Duration::from_secs(5), lines.next_line())
            .await
            .expect("answered in time")
            .expect("read")
            .expect("a line");
        let refusal: serde_json::Value = serde_json::from_str(&refusal).expect("JSON");
        assert_eq!(refusal["id"], extra, "{refusal}");
        let message = refusal["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("already waiting for their callers"),
            "{message}"
        );
    }

    fn event(data: &str) -> Sse {
        Sse::default().data(data)
    }

    #[test]
    fn json_rpc_events_pass_and_others_are_named() {
        let request = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        assert_eq!(unfit(&event(request)), None);
        let answer = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert_eq!(unfit(&event(answer)), None);
        let garbage = unfit(&event("this is not JSON")).unwrap_or_default();
        assert!(
            garbage.contains("not JSON (`this is not JSON`)"),
            "{garbage}"
        );
        let hello = unfit(&event(r#"{"hello":"world"}"#)).unwrap_or_default();
        assert!(hello.contains("not a JSON-RPC message"), "{hello}");
        let number = unfit(&event("42")).unwrap_or_default();
        assert!(number.contains("not a JSON-RPC message"), "{number}");
        assert_eq!(
            unfit(&Sse::default().id("0").data("")),
            None,
            "a priming event"
        );
        let endpoint = Sse::default().event("endpoint").data("/messages?x=1");
        assert_eq!(unfit(&endpoint), None, "not a message event");
    }

    #[test]
    fn an_excerpt_is_short_and_printable() {
        assert_eq!(excerpt("a\nb"), "a?b");
        let long = "x".repeat(100);
        assert_eq!(excerpt(&long).chars().count(), 81);
    }
}
