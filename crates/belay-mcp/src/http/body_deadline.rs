//! The time a client has to send a request's body, counted from the end of its head.
//!
//! A request whose head is complete but whose body trickles in, or never comes, would
//! otherwise hold its connection and its task for as long as the client likes: every
//! layer that reads a body (a token check peeking at the JSON-RPC method, a form
//! extractor) waits. So the server loop races each request against one deadline: if the
//! body has not arrived in full when it passes, the request is answered 408 with a JSON
//! body saying what happened, and the connection is closed. Once the body is in, the
//! deadline no longer applies: a long tool call or an open stream is not a slow body.
//!
//! Hand-written rather than tower-http's layers: its `RequestBodyTimeout` limits the gap
//! between two chunks (a client sending a byte every 29 s passes a 30 s limit for ever)
//! and leaves the answer to whichever extractor saw the error (a 400 from a form); its
//! `Timeout` bounds the handler's whole work too (a tool call, an SSE stream) and answers
//! an empty 408 on a connection that stays open.

use rmcp::model::ErrorCode;
use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    response::Response,
};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Instant;

/// Runs `respond` on `request` (whose head has just been read), answering 408 instead if
/// its body is still incomplete `timeout` from now. `setting` names where the limit is
/// configured, for the answer.
pub(super) async fn within<F>(
    request: hyper::Request<Incoming>,
    timeout: Duration,
    setting: Option<&'static str>,
    respond: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let deadline = Instant::now() + timeout;
    let arrived = Arc::new(AtomicBool::new(http_body::Body::is_end_stream(
        request.body(),
    )));
    let request = request.map(|body| {
        Body::new(Arriving {
            body,
            arrived: arrived.clone(),
        })
    });
    let path = request.uri().path().to_owned();
    let response = respond(request);
    tokio::select! {
        biased;
        response = response => response,
        () = overdue(deadline, &arrived) => {
            tracing::debug!(%path, ?timeout, "request body not received in time");
            too_slow(timeout, setting)
        }
    }
}

/// Resolves at `deadline` if the body has not arrived by then; never otherwise.
async fn overdue(deadline: Instant, arrived: &AtomicBool) {
    tokio::time::sleep_until(deadline).await;
    if arrived.load(Ordering::Acquire) {
        std::future::pending::<()>().await;
    }
}

/// 408 with a JSON-RPC error body, closing the connection (the rest of the body is
/// never read).
fn too_slow(timeout: Duration, setting: Option<&'static str>) -> Response {
    let within = match timeout.subsec_millis() {
        0 => format!("{} s", timeout.as_secs()),
        _ => format!("{} ms", timeout.as_millis()),
    };
    let hint = setting.map(|s| format!(" ({s})")).unwrap_or_default();
    let mut response = super::jsonrpc_error(
        StatusCode::REQUEST_TIMEOUT,
        ErrorCode::INVALID_REQUEST,
        &format!("request body not received within {within}{hint}"),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The request body, noting when it has been received in full (or failed: the reader
/// answers that itself).
struct Arriving {
    body: Incoming,
    arrived: Arc<AtomicBool>,
}

impl http_body::Body for Arriving {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        let done = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => self.body.is_end_stream(),
            Poll::Pending => false,
        };
        if done {
            self.arrived.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
