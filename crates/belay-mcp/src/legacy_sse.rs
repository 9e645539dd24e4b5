//! The HTTP+SSE transport of protocol revision 2024-11-05, which rmcp no longer ships.
//!
//! A client opens `GET /sse`; the first event, `endpoint`, names the URL to POST its
//! messages to (`/messages?sessionId=…`). Every server message then arrives as a `message`
//! event on that stream, and each POST is answered `202 Accepted` at once. The session
//! lives exactly as long as the SSE stream: when the client goes away, the server task is
//! cancelled and its session id stops working. As for Streamable HTTP
//! ([`crate::http`]), a session opened by an authenticated principal is refused to every
//! other: a POST for it with another principal gets the 404 of an unknown session.

use rmcp::model::ErrorCode;
use std::{collections::HashMap, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Extension, Router,
    body::Bytes,
    extract::{Query, State},
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use belay_core::Principal;
use futures::{StreamExt, channel::mpsc};
use rmcp::{
    ServerHandler, ServiceExt,
    model::{ClientJsonRpcMessage, GetExtensions},
};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Messages a client may have in flight before its POSTs wait for the server to catch up.
const CHANNEL_DEPTH: usize = 64;

struct Sessions<S> {
    server: S,
    messages_path: String,
    open: Mutex<HashMap<String, Open>>,
    shutdown: CancellationToken,
}

/// An open session: where its messages go, and who opened it (`None` without auth).
struct Open {
    to_server: mpsc::Sender<ClientJsonRpcMessage>,
    owner: Option<Principal>,
}

/// Routes `GET {sse_path}` and `POST {messages_path}` serving clones of `server`.
/// Sessions end when their stream closes or `shutdown` is cancelled.
pub fn router<S>(
    server: S,
    sse_path: &str,
    messages_path: &str,
    shutdown: CancellationToken,
) -> Router
where
    S: ServerHandler + Clone,
{
    let sessions = Arc::new(Sessions {
        server,
        messages_path: messages_path.to_owned(),
        open: Mutex::new(HashMap::new()),
        shutdown,
    });
    Router::new()
        .route(sse_path, get(open_stream::<S>))
        .route(messages_path, post(post_message::<S>))
        .with_state(sessions)
}

async fn open_stream<S: ServerHandler + Clone>(
    State(sessions): State<Arc<Sessions<S>>>,
    owner: Option<Extension<Principal>>,
) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (to_server, from_client) = mpsc::channel::<ClientJsonRpcMessage>(CHANNEL_DEPTH);
    let (to_client, from_server) = mpsc::channel(CHANNEL_DEPTH);
    let owner = owner.map(|Extension(owner)| owner);
    sessions
        .open
        .lock()
        .await
        .insert(id.clone(), Open { to_server, owner });

    let session_ct = sessions.shutdown.child_token();
    let server = sessions.server.clone();
    let task_sessions = Arc::clone(&sessions);
    let task_id = id.clone();
    let task_ct = session_ct.clone();
    tokio::spawn(async move {
        // Boxed: see `crate::serve::serve_stdio`.
        match server
            .into_dyn()
            .serve_with_ct((to_client, from_client), task_ct)
            .await
        {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => {
                tracing::info!(session = %task_id, error = %e, "legacy SSE session did not start")
            }
        }
        task_sessions.open.lock().await.remove(&task_id);
        tracing::debug!(session = %task_id, "legacy SSE session closed");
    });

    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("{}?sessionId={id}", sessions.messages_path));
    // Dropping the stream (client gone) drops this guard, which ends the session task.
    let close_on_drop = session_ct.clone().drop_guard();
    let messages = from_server
        .map(move |message| {
            let _keep = &close_on_drop;
            let data = serde_json::to_string(&message).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot serialise server message");
                String::from("{}")
            });
            Ok::<_, Infallible>(Event::default().event("message").data(data))
        })
        .take_until(session_ct.cancelled_owned());
    let stream = futures::stream::once(async { Ok(endpoint) }).chain(messages);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[derive(Deserialize)]
struct SessionQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

async fn post_message<S: ServerHandler + Clone>(
    State(sessions): State<Arc<Sessions<S>>>,
    Query(query): Query<SessionQuery>,
    parts: http::request::Parts,
    body: Bytes,
) -> Response {
    let Some(session_id) = query.session_id else {
        return error(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_REQUEST,
            "the sessionId query parameter is required: use the URL from the `endpoint` event of GET /sse",
        );
    };
    // Someone else's session reads exactly as one that does not exist.
    let caller = parts.extensions.get::<Principal>();
    let sender = sessions
        .open
        .lock()
        .await
        .get(&session_id)
        .filter(|open| open.owner.as_ref() == caller)
        .map(|open| open.to_server.clone());
    let Some(mut sender) = sender else {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::INVALID_REQUEST,
            "unknown or closed session: open a new stream with GET /sse",
        );
    };
    let mut message = match parse_message(&body) {
        Ok(message) => message,
        Err((code, reason)) => return error(StatusCode::BAD_REQUEST, code, &reason),
    };
    // As rmcp's Streamable HTTP does: handlers read this POST's headers and extensions
    // (e.g. the caller an auth layer put there) from the request context.
    match &mut message {
        ClientJsonRpcMessage::Request(request) => {
            request.request.extensions_mut().insert(parts);
        }
        ClientJsonRpcMessage::Notification(notification) => {
            notification.notification.extensions_mut().insert(parts);
        }
        _ => {}
    }
    use futures::SinkExt;
    if sender.send(message).await.is_err() {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::INVALID_REQUEST,
            "session closed while the message was sent: open a new stream with GET /sse",
        );
    }
    (StatusCode::ACCEPTED, "Accepted").into_response()
}

/// Parses one client message, telling malformed JSON (-32700) from JSON that is not a
/// valid JSON-RPC message (-32600) so the client learns what to fix. One pass, as rmcp
/// parses it: serde_json classifies its own errors (syntax, including nesting too deep
/// and invalid UTF-8, or end of input, against data of the wrong shape).
pub fn parse_message(body: &[u8]) -> Result<ClientJsonRpcMessage, (ErrorCode, String)> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => (
            ErrorCode::INVALID_REQUEST,
            format!("invalid request: not a JSON-RPC 2.0 message MCP understands: {e}"),
        ),
        _ => (
            ErrorCode::PARSE_ERROR,
            format!("parse error: the body is not valid JSON: {e}"),
        ),
    })
}

fn error(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    crate::http::jsonrpc_error(status, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_and_invalid_messages_get_distinct_codes() {
        assert_eq!(
            parse_message(b"{not json").err().map(|e| e.0),
            Some(ErrorCode::PARSE_ERROR)
        );
        assert_eq!(
            parse_message(b"[1,2]").err().map(|e| e.0),
            Some(ErrorCode::INVALID_REQUEST)
        );
        assert_eq!(
            parse_message(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
                .err()
                .map(|e| e.0),
            None
        );
    }
}
