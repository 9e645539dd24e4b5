//! The transport against a small legacy SSE server whose answers each test chooses.

use std::{
    convert::Infallible,
    io,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap as Headers, StatusCode as Status},
    response::{
        IntoResponse, Response,
        sse::{Event, Sse as SseResponse},
    },
    routing::{get, post},
};
use bytes::Bytes;
use futures::{StreamExt, channel::mpsc as events};
use rmcp::model::{ClientNotification, InitializedNotification};

use super::{
    wire::{bounded, resolve_endpoint},
    *,
};

/// What the test server does and what it saw.
#[derive(Clone)]
struct Server {
    /// The `endpoint` event's data; `None` sends no endpoint.
    endpoint: Option<String>,
    /// Events sent after the endpoint; the stream ends when the test drops the sender.
    events: Arc<Mutex<Option<events::UnboundedReceiver<Event>>>>,
    /// POSTs answer 401 to these Authorization values.
    refuse: Vec<String>,
    /// `Authorization` on each request, as `GET …` / `POST …`.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn new(endpoint: Option<&str>) -> (Self, events::UnboundedSender<Event>) {
        let (tx, rx) = events::unbounded();
        let server = Self {
            endpoint: endpoint.map(str::to_owned),
            events: Arc::new(Mutex::new(Some(rx))),
            refuse: Vec::new(),
            seen: Arc::default(),
        };
        (server, tx)
    }

    fn record(&self, method: &str, headers: &Headers) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(format!("{method} {auth}"));
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Serves on a loopback port; returns the SSE URL.
    async fn start(&self) -> anyhow::Result<String> {
        let router = Router::new()
            .route("/sse", get(stream))
            .route("/messages", post(message))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(format!("http://{addr}/sse"))
    }
}

async fn stream(State(server): State<Server>, headers: Headers) -> Response {
    server.record("GET", &headers);
    let later = server
        .events
        .lock()
        .ok()
        .and_then(|mut e| e.take())
        .map(|rx| rx.map(Ok::<_, Infallible>));
    let Some(later) = later else {
        return Status::CONFLICT.into_response();
    };
    let first = server
        .endpoint
        .map(|data| Ok(Event::default().event("endpoint").data(data)));
    SseResponse::new(futures::stream::iter(first).chain(later)).into_response()
}

async fn message(State(server): State<Server>, headers: Headers) -> Response {
    server.record("POST", &headers);
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth.is_some_and(|a| server.refuse.iter().any(|r| r == a)) {
        return Status::UNAUTHORIZED.into_response();
    }
    Status::ACCEPTED.into_response()
}

fn initialized() -> ClientJsonRpcMessage {
    ClientJsonRpcMessage::notification(ClientNotification::InitializedNotification(
        InitializedNotification::default(),
    ))
}

#[test]
fn endpoints_resolve_on_the_sse_origin_only() -> anyhow::Result<()> {
    let sse = Url::parse("http://127.0.0.1:8000/mcp/sse")?;
    let ok = |data: &str| resolve_endpoint(&sse, data).map(String::from);
    assert_eq!(
        ok("/messages?sessionId=1")?,
        "http://127.0.0.1:8000/messages?sessionId=1"
    );
    assert_eq!(
        ok("messages?sessionId=1")?,
        "http://127.0.0.1:8000/mcp/messages?sessionId=1"
    );
    assert_eq!(
        ok(" http://127.0.0.1:8000/m?sessionId=1\n")?,
        "http://127.0.0.1:8000/m?sessionId=1"
    );
    for elsewhere in [
        "http://evil.example/messages",
        "//evil.example/messages",
        "http://127.0.0.1:8001/messages",
        "https://127.0.0.1:8000/messages",
        "",
    ] {
        assert!(
            matches!(
                resolve_endpoint(&sse, elsewhere),
                Err(LegacySseError::BadEndpoint { .. })
            ),
            "{elsewhere:?} must be refused"
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_endpoint_on_another_origin_is_refused_before_any_post() -> anyhow::Result<()> {
    let (server, _events) = Server::new(Some("http://localhost:1/messages?sessionId=1"));
    let url = server.start().await?;
    let error = LegacySseTransport::builder(&url)
        .bearer("secret")
        .connect()
        .await
        .expect_err("another origin");
    assert!(
        matches!(error, LegacySseError::BadEndpoint { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("another origin"), "{error}");
    assert_eq!(
        server.seen(),
        vec!["GET Bearer secret"],
        "nothing was POSTed"
    );
    Ok(())
}

#[tokio::test]
async fn a_post_refused_with_401_is_retried_once_with_a_renewed_value() -> anyhow::Result<()> {
    let (mut server, _events) = Server::new(Some("/messages?sessionId=1"));
    server.refuse = vec!["Bearer old".into()];
    let url = server.start().await?;
    // Gives "old" until it is refused, then "new", as a token cache would.
    let renewed = Arc::new(Mutex::new(false));
    let source = move |refused: Option<String>| {
        let renewed = renewed.clone();
        async move {
            let mut renewed = renewed.lock().map_err(|e| e.to_string())?;
            *renewed |= refused.is_some();
            Ok(Some(
                if *renewed { "Bearer new" } else { "Bearer old" }.to_owned(),
            ))
        }
    };
    let mut transport = LegacySseTransport::builder(&url)
        .authorization(source)
        .connect()
        .await?;
    assert_eq!(
        transport.endpoint().as_str(),
        url.replace("/sse", "/messages?sessionId=1")
    );
    transport.send(initialized()).await?;
    transport.send(initialized()).await?;
    assert_eq!(
        server.seen(),
        vec![
            "GET Bearer old",
            "POST Bearer old",
            "POST Bearer new",
            "POST Bearer new"
        ]
    );
    transport.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_401_with_nothing_to_renew_fails_without_a_retry() -> anyhow::Result<()> {
    let (mut server, _events) = Server::new(Some("/messages?sessionId=1"));
    server.refuse = vec!["Bearer fixed".into()];
    let url = server.start().await?;
    let mut transport = LegacySseTransport::builder(&url)
        .bearer("fixed")
        .connect()
        .await?;
    let error = transport.send(initialized()).await.expect_err("refused");
    assert!(
        matches!(error, LegacySseError::Status { status, .. } if status == StatusCode::UNAUTHORIZED),
        "{error}"
    );
    assert_eq!(server.seen(), vec!["GET Bearer fixed", "POST Bearer fixed"]);
    Ok(())
}

#[tokio::test]
async fn message_events_arrive_and_the_stream_end_ends_the_transport() -> anyhow::Result<()> {
    let (server, events) = Server::new(Some("/messages?sessionId=1"));
    let url = server.start().await?;
    let mut transport = LegacySseTransport::builder(&url).connect().await?;
    let ping = r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;
    events.unbounded_send(Event::default().event("message").data(ping))?;
    events.unbounded_send(Event::default().event("other").data("ignored"))?;
    events.unbounded_send(Event::default().event("message").data("not json"))?;
    events.unbounded_send(Event::default().data(ping))?;
    for _ in 0..2 {
        let message = tokio::time::timeout(Duration::from_secs(5), transport.receive()).await?;
        assert!(
            matches!(message, Some(ServerJsonRpcMessage::Request(_))),
            "{message:?}"
        );
    }
    drop(events);
    let end = tokio::time::timeout(Duration::from_secs(5), transport.receive()).await?;
    assert!(end.is_none(), "the stream ended: {end:?}");
    assert_eq!(
        server.seen(),
        vec!["GET -"],
        "no Authorization without a source"
    );
    Ok(())
}

#[tokio::test]
async fn with_a_handler_an_invalid_message_is_reported_and_ends_the_transport() -> anyhow::Result<()>
{
    let (server, events) = Server::new(Some("/messages?sessionId=1"));
    let url = server.start().await?;
    let reported = Arc::new(Mutex::new(Vec::<String>::new()));
    let into = reported.clone();
    let mut transport = LegacySseTransport::builder(&url)
        .on_invalid_message(move |data, _| {
            if let Ok(mut reported) = into.lock() {
                reported.push(data.to_owned());
            }
        })
        .connect()
        .await?;
    let ping = r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;
    events.unbounded_send(Event::default().data(ping))?;
    events.unbounded_send(Event::default().data("not json"))?;
    events.unbounded_send(Event::default().data(ping))?;
    let first = tokio::time::timeout(Duration::from_secs(5), transport.receive()).await?;
    assert!(
        matches!(first, Some(ServerJsonRpcMessage::Request(_))),
        "{first:?}"
    );
    let end = tokio::time::timeout(Duration::from_secs(5), transport.receive()).await?;
    assert!(
        end.is_none(),
        "ended at the invalid message, the ping after it unread: {end:?}"
    );
    assert_eq!(
        *reported.lock().map_err(|_| anyhow::anyhow!("poisoned"))?,
        vec!["not json"]
    );
    Ok(())
}

#[tokio::test]
async fn no_endpoint_event_times_out() -> anyhow::Result<()> {
    let (server, _events) = Server::new(None);
    let url = server.start().await?;
    let error = LegacySseTransport::builder(&url)
        .endpoint_timeout(Duration::from_millis(200))
        .connect()
        .await
        .expect_err("no endpoint");
    assert!(
        matches!(error, LegacySseError::EndpointTimeout { .. }),
        "{error}"
    );
    Ok(())
}

#[tokio::test]
async fn an_oversized_event_fails_the_stream() -> anyhow::Result<()> {
    let chunks = vec![
        Ok::<_, io::Error>(Bytes::from_static(b"data: 12345\n\n")),
        Ok(Bytes::from_static(b"data: 123")),
        Ok(Bytes::from_static(b"45678\n\n")),
    ];
    let results: Vec<_> = bounded(futures::stream::iter(chunks), 12)
        .collect::<Vec<_>>()
        .await;
    assert!(results[0].is_ok(), "an event within the limit");
    assert!(results[1].is_ok(), "still within the limit");
    assert!(results[2].is_err(), "14 bytes in one event, over 12");
    Ok(())
}
