//! Holding back the head of a fresh event stream until the events that are about to be
//! ready are ready, so that a quick answer leaves in one write.
//!
//! rmcp answers a POST in a session with an SSE stream whose first event (the priming
//! event of SEP-1699, which gives the client an id to resume from) is ready at once, while
//! the answer is computed by other tasks. hyper writes what the body has ready and flushes
//! as soon as it has no more: the head and the priming event went out in one TCP segment and
//! the answer, microseconds later, in a second, so the client woke twice per call.
//! Yielding a few times first lets the runtime run the tasks that produce the answer (no
//! timer: a timer per request would cost more than the write it saves). A slow answer
//! still gets its head and priming event after those few yields, then streams as before.

use std::{pin::Pin, task::Poll};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    middleware::Next,
    response::Response,
};
use futures::StreamExt;
use http::header::CONTENT_TYPE;
use http_body::Body as _;

/// Times the runtime runs its other ready tasks before the head is sent anyway: enough
/// for a `tools/call` on `belay serve stock`, whose answer crosses rmcp's session task and
/// the handler's task (one `writev` per call under `strace`).
const YIELDS: u32 = 6;

/// Middleware: [`gather_ready_events`] on every response.
pub(crate) async fn gather_layer(request: Request, next: Next) -> Response {
    gather_ready_events(next.run(request).await).await
}

/// `response` with the data of its body that became ready within [`YIELDS`] yields read
/// ahead (and the whole body, if it ended), when it is an event stream; any other response
/// is returned as it is.
pub(crate) async fn gather_ready_events(response: Response) -> Response {
    let event_stream = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    if !event_stream {
        return response;
    }
    let (parts, mut body) = response.into_parts();
    let mut ready: Vec<Result<Bytes, axum::Error>> = Vec::new();
    let mut yields = 0;
    let rest = loop {
        let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx)));
        match polled.await {
            // Trailers are no part of an event stream.
            Poll::Ready(Some(Ok(frame))) => ready.extend(frame.into_data().ok().map(Ok)),
            // The body must not be polled after an error.
            Poll::Ready(Some(Err(e))) => {
                ready.push(Err(e));
                break None;
            }
            Poll::Ready(None) => break None,
            Poll::Pending if yields < YIELDS => {
                yields += 1;
                tokio::task::yield_now().await;
            }
            Poll::Pending => break Some(body),
        }
    };
    let body = match rest {
        // Whole: one buffer, which hyper sends with a Content-Length.
        None if ready.iter().all(Result::is_ok) => {
            let mut whole = Vec::new();
            for data in ready.into_iter().flatten() {
                whole.extend_from_slice(&data);
            }
            Body::from(whole)
        }
        rest => Body::from_stream(
            futures::stream::iter(ready)
                .chain(futures::stream::iter(rest.map(Body::into_data_stream)).flatten()),
        ),
    };
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_stream(body: Body) -> Response {
        Response::builder()
            .header(CONTENT_TYPE, "text/event-stream")
            .body(body)
            .expect("a valid response")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_answer_computed_by_another_task_is_read_ahead_with_the_first_event() {
        let (tx, body) = primed_stream().await;
        // The answer comes from a task that has not run yet, as rmcp's handler task.
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let _ = tx.send(Ok(Bytes::from_static(b"data: {}\n\n"))).await;
        });
        let response = gather_ready_events(event_stream(body)).await;
        let body = response.into_body();
        assert_eq!(body.size_hint().exact(), Some(24));
        let bytes = to_bytes(body).await;
        assert_eq!(&bytes[..], b"data: \nid: 0\n\ndata: {}\n\n");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_answer_gets_its_head_and_first_event_without_waiting_for_it() {
        let (tx, body) = primed_stream().await;
        // Returns although the stream stays open: the answer is not waited for.
        let response = gather_ready_events(event_stream(body)).await;
        let mut body = response.into_body();
        assert_eq!(body.size_hint().exact(), None);
        let first = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect("data");
        assert_eq!(
            first.data_ref().map(|d| &d[..]),
            Some(&b"data: \nid: 0\n\n"[..])
        );
        tx.send(Ok(Bytes::from_static(b"data: {}\n\n")))
            .await
            .expect("open");
        drop(tx);
        let rest = to_bytes(body).await;
        assert_eq!(&rest[..], b"data: {}\n\n");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn other_responses_are_left_as_they_are() {
        let response = Response::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .expect("a valid response");
        let response = gather_ready_events(response).await;
        let bytes = to_bytes(response.into_body()).await;
        assert_eq!(&bytes[..], b"{}");
    }

    async fn to_bytes(body: Body) -> Bytes {
        axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("a body")
    }

    type Sender = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

    /// An event-stream body whose priming event is ready, fed by the returned sender.
    async fn primed_stream() -> (Sender, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(Ok(Bytes::from_static(b"data: \nid: 0\n\n")))
            .await
            .expect("open");
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            let item = rx.recv().await?;
            Some((item, rx))
        });
        (tx, Body::from_stream(stream))
    }
}
