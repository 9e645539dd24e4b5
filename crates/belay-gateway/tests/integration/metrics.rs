//! `[gateway.metrics]` and trace context through the whole gateway: `/metrics` counts
//! what the chain did (scraped over HTTP, as Prometheus would), needs no token, moves and
//! turns off; upstream health is read at scrape time; every forwarded call carries a
//! `traceparent` that continues the caller's trace, and with OTLP export on, the gateway's
//! exported span is the parent the upstream is told about.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::Request,
    http::StatusCode,
    middleware::Next,
    routing::post,
};
use belay_auth::ResourceSpec;
use belay_core::telemetry::{self, OtlpConfig};
use belay_gateway::{Chain, Gateway, metrics::CONTENT_TYPE, trace_context::TraceParent};
use belay_mcp::testkit::{Client, Era, ScriptedClient, object, text_of};
use belay_policy::ManualClock;
use belay_servers::ServerName;
use http::{HeaderName, HeaderValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, RequestParamsMeta},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing_subscriber::prelude::*;

use crate::{
    policy::{RULES, call, stock_gateway},
    support::{fixture, gateway, header, one_upstream, post_call, reference, serve, spec},
};

/// The W3C specification's example: what a traced client sends.
const DOWNSTREAM: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// GETs `path` like Prometheus (no token) and returns the exposition.
async fn scrape(base: &str, path: &str) -> anyhow::Result<String> {
    let response = reqwest::get(format!("{base}{path}")).await?;
    anyhow::ensure!(response.status() == 200, "{path}: {}", response.status());
    assert_eq!(header(&response, "content-type"), CONTENT_TYPE);
    Ok(response.text().await?)
}

/// The value of `series` (name and labels, exactly as exposed), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn counters_and_histograms_move_by_the_calls_made() -> anyhow::Result<()> {
    // Burst 2 on a clock that never moves: the third allowed call is limited.
    let extra = format!("{RULES}[rate_limits]\nper_user = {{ per_minute = 6, burst = 2 }}\n");
    let (gw, _upstream) = stock_gateway(&extra, Arc::new(ManualClock::new()), None).await?;
    let before = scrape(&gw.base, "/metrics").await?;
    let client = gw.plain("/mcp").await?;
    let price = json!({"symbol": "AAPL"});
    let denied = call(&client, "stock__compare_stock_prices", json!({})).await;
    assert!(denied.is_err(), "the policy denies comparisons");
    call(&client, "stock__get_stock_price", price.clone()).await?;
    call(&client, "stock__get_stock_price", price.clone()).await?;
    let limited = call(&client, "stock__get_stock_price", price).await;
    assert!(limited.is_err(), "over the burst");
    let after = scrape(&gw.base, "/metrics").await?;
    client.cancel().await?;

    let moved = |series: &str| value(&after, series) - value(&before, series);
    let requests = |outcome: &str| {
        moved(&format!(
            r#"belay_gateway_requests_total{{upstream="stock",method="tools/call",outcome="{outcome}"}}"#
        ))
    };
    assert_eq!(requests("answered"), 2.0, "{after}");
    assert_eq!(requests("denied"), 1.0, "{after}");
    assert_eq!(requests("limited"), 1.0, "{after}");
    assert_eq!(requests("failed"), 0.0, "{after}");
    assert_eq!(
        moved(r#"belay_gateway_denials_total{upstream="stock",rule="no-compare"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"belay_gateway_rate_limited_total{upstream="stock"}"#),
        1.0
    );
    // Every request is timed, refusals included; every one took under 30 s.
    let histogram = r#"upstream="stock",method="tools/call"}"#;
    assert_eq!(
        moved(&format!(
            "belay_gateway_request_duration_seconds_count{{{histogram}"
        )),
        4.0
    );
    assert_eq!(
        moved(&format!(
            r#"belay_gateway_request_duration_seconds_bucket{{le="30.0",{histogram}"#
        )),
        4.0
    );
    assert_eq!(
        value(&after, r#"belay_gateway_upstream_up{upstream="stock"}"#),
        1.0
    );
    assert!(after.contains(r#"belay_gateway_upstream_breaker_open{upstream="stock"} 0"#));
    Ok(())
}

#[tokio::test]
async fn metrics_need_no_token_when_sign_in_is_required() -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let spec = spec(
        "auth = true\n[[upstream]]\nname = \"gone\"\n\
             transport = { type = \"http\", url = \"http://127.0.0.1:9/mcp\" }\n",
    )?;
    let gateway = Gateway::start(spec, Chain::default(), stop.clone())?;
    // Nothing listens at the issuer: a request without a token never gets that far.
    let per_endpoint = ResourceSpec {
        issuer: "http://127.0.0.1:9".into(),
        ..ResourceSpec::default()
    };
    let one_resource = ResourceSpec {
        resource: Some("http://gateway.test/mcp".into()),
        ..per_endpoint.clone()
    };
    for resource in [per_endpoint, one_resource] {
        let router = gateway.protected_router(&resource, "http://gateway.test")?;
        let (base, _server) = serve(router).await?;
        let refused = post_call(&format!("{base}/mcp"), None, "tools/list", json!({})).await?;
        assert_eq!(refused.status(), 401, "the MCP endpoint is protected");
        let text = scrape(&base, "/metrics").await?;
        assert!(
            text.contains(r#"belay_gateway_upstream_up{upstream="gone"} 0"#),
            "{text}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_metrics_path_moves_turns_off_and_is_checked() -> anyhow::Result<()> {
    let moved = gateway("[metrics]\npath = \"/ops/metrics\"\n").await?;
    scrape(&moved.base, "/ops/metrics").await?;
    let old = reqwest::get(format!("{}/metrics", moved.base)).await?;
    assert_eq!(old.status(), 404);

    let off = gateway("[metrics]\nenabled = false\n").await?;
    let gone = reqwest::get(format!("{}/metrics", off.base)).await?;
    assert_eq!(gone.status(), 404);

    // A path that would shadow an endpoint (or panic the router) is a config error.
    for bad in ["/mcp", "metrics", "/servers/x/metrics", "/a//b", "/{x}"] {
        let error = belay_gateway::check(&format!("[metrics]\npath = \"{bad}\"\n"))
            .err()
            .ok_or_else(|| anyhow::anyhow!("`{bad}` was accepted"))?;
        assert_eq!(error.line, Some(2), "{bad}: {error}");
        assert!(error.message.contains("metrics path"), "{error}");
    }
    let unknown = belay_gateway::check("[metrics]\nport = 9090\n")
        .err()
        .ok_or_else(|| anyhow::anyhow!("an unknown key was accepted"))?;
    assert!(unknown.message.contains("port"), "{unknown}");
    Ok(())
}

#[tokio::test]
async fn upstream_up_drops_to_zero_when_the_upstream_dies() -> anyhow::Result<()> {
    let gw = gateway(&format!(
        r#"
[[upstream]]
name = "stock"
transport = {{ type = "stdio", command = "{}", args = ["stock"], restart = {{ policy = "never" }} }}
"#,
        fixture()
    ))
    .await?;
    gw.up("stock").await?;
    let up = r#"belay_gateway_upstream_up{upstream="stock"}"#;
    assert_eq!(value(&scrape(&gw.base, "/metrics").await?, up), 1.0);

    let upstream = gw
        .gateway
        .upstream("stock")
        .ok_or_else(|| anyhow::anyhow!("no upstream"))?;
    let pid = upstream
        .status()
        .pid
        .ok_or_else(|| anyhow::anyhow!("no pid"))?;
    let killed = tokio::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .await?;
    assert!(killed.success());
    gw.until("stock", |s| {
        s.state != belay_gateway::upstream::UpstreamState::Up
    })
    .await?;
    let text = scrape(&gw.base, "/metrics").await?;
    assert!(text.lines().any(|l| l == format!("{up} 0")), "{text}");
    Ok(())
}

/// What an upstream saw of one `tools/call`.
#[derive(Debug, Clone)]
struct Seen {
    header: Option<String>,
    state: Option<String>,
    meta: Option<String>,
    /// `baggage`: the header, and `_meta`'s.
    baggage: (Option<String>, Option<String>),
}

type Calls = Arc<Mutex<Vec<Seen>>>;

/// The weather server on Streamable HTTP at `/mcp`, recording each `tools/call`'s trace
/// context: the headers and the `_meta` of the JSON-RPC request.
async fn traced_upstream() -> anyhow::Result<(String, Calls, DropGuard)> {
    let calls: Calls = Arc::default();
    let record = calls.clone();
    let router = reference(ServerName::Weather).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let record = record.clone();
            async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let json: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                if json["method"] == "tools/call" {
                    let header = |name: &str| {
                        let value = parts.headers.get(name)?.to_str().ok()?;
                        Some(value.to_owned())
                    };
                    let meta = json["params"]["_meta"]["traceparent"].as_str();
                    let baggage = json["params"]["_meta"]["baggage"].as_str();
                    if let Ok(mut calls) = record.lock() {
                        calls.push(Seen {
                            header: header("traceparent"),
                            state: header("tracestate"),
                            meta: meta.map(str::to_owned),
                            baggage: (header("baggage"), baggage.map(str::to_owned)),
                        });
                    }
                }
                next.run(Request::from_parts(parts, Body::from(bytes)))
                    .await
            }
        },
    ));
    let (base, guard) = serve(router).await?;
    Ok((format!("{base}/mcp"), calls, guard))
}

/// A client of `url` that sends `headers` with every request.
async fn client_with(
    url: String,
    headers: &[(&'static str, &'static str)],
) -> anyhow::Result<Client> {
    let headers: HashMap<HeaderName, HeaderValue> = headers
        .iter()
        .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
        .collect();
    let config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers);
    Ok(ScriptedClient::new(Era::Handshake)
        .serve(StreamableHttpClientTransport::from_config(config))
        .await?)
}

async fn weather(client: &Client, meta_traceparent: Option<&str>) -> anyhow::Result<()> {
    let mut params = CallToolRequestParams::new("weather__get_weather")
        .with_arguments(object(json!({"city": "London"})));
    if let Some(traceparent) = meta_traceparent {
        params.set_traceparent(traceparent);
    }
    let result = client.call_tool(params).await?;
    anyhow::ensure!(!text_of(&result).is_empty());
    Ok(())
}

/// The one call the upstream saw since the last take, its header and `_meta` agreeing.
fn take_one(calls: &Calls) -> anyhow::Result<(TraceParent, Option<String>)> {
    take_one_with_baggage(calls).map(|(parent, state, _)| (parent, state))
}

/// [`take_one`], with the call's baggage (header and `_meta` agreeing).
fn take_one_with_baggage(
    calls: &Calls,
) -> anyhow::Result<(TraceParent, Option<String>, Option<String>)> {
    let mut calls = calls.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let seen: Vec<Seen> = calls.drain(..).collect();
    anyhow::ensure!(seen.len() == 1, "{seen:?}");
    let seen = &seen[0];
    let header = seen
        .header
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("no header: {seen:?}"))?;
    assert_eq!(seen.meta.as_deref(), Some(header), "header and _meta agree");
    let parent =
        TraceParent::parse(header).ok_or_else(|| anyhow::anyhow!("bad traceparent {header}"))?;
    assert_eq!(
        seen.baggage.0, seen.baggage.1,
        "baggage: header and _meta agree"
    );
    Ok((parent, seen.state.clone(), seen.baggage.1.clone()))
}

#[tokio::test]
async fn forwarded_calls_carry_a_traceparent_continuing_the_callers_trace() -> anyhow::Result<()> {
    let (url, calls, _upstream) = traced_upstream().await?;
    let gw = one_upstream("weather", &url).await?;
    let downstream = TraceParent::parse(DOWNSTREAM).ok_or_else(|| anyhow::anyhow!("parse"))?;

    // Trace context in the HTTP headers.
    let traced = client_with(
        format!("{}/mcp", gw.base),
        &[
            ("traceparent", DOWNSTREAM),
            ("tracestate", "vendor=opaque"),
            ("baggage", "userId=alice,tenant=acme"),
        ],
    )
    .await?;
    weather(&traced, None).await?;
    let (sent, state, baggage) = take_one_with_baggage(&calls)?;
    assert_eq!(
        baggage.as_deref(),
        Some("userId=alice,tenant=acme"),
        "baggage travels"
    );
    assert_eq!(sent.trace_id, downstream.trace_id, "the same trace");
    assert_ne!(
        sent.parent_id, downstream.parent_id,
        "a span of the gateway's own"
    );
    assert!(sent.sampled());
    assert_eq!(state.as_deref(), Some("vendor=opaque"));
    traced.cancel().await?;

    // Trace context in the MCP request's `_meta` (SEP-414), over a plain client.
    let plain = gw.plain("/mcp").await?;
    weather(&plain, Some(DOWNSTREAM)).await?;
    let (sent, state) = take_one(&calls)?;
    assert_eq!(sent.trace_id, downstream.trace_id);
    assert_ne!(sent.parent_id, downstream.parent_id);
    assert_eq!(state, None);

    // None at all: each call begins a trace of its own.
    weather(&plain, None).await?;
    let (first, _) = take_one(&calls)?;
    weather(&plain, None).await?;
    let (second, _) = take_one(&calls)?;
    assert_ne!(first.trace_id, second.trace_id);
    assert_ne!(first.trace_id, downstream.trace_id);
    plain.cancel().await?;
    Ok(())
}

/// An OTLP/HTTP collector on loopback: every body POSTed to /v1/traces comes out.
async fn collector() -> anyhow::Result<(
    String,
    tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    DropGuard,
)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let router = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                StatusCode::OK
            }
        }),
    );
    let (base, guard) = serve(router).await?;
    Ok((format!("{base}/v1/traces"), rx, guard))
}

#[tokio::test]
async fn the_exported_gateway_span_is_the_parent_the_upstream_is_told_about() -> anyhow::Result<()>
{
    let (endpoint, mut bodies, _collector) = collector().await?;
    let config = OtlpConfig {
        endpoint,
        service_name: "gateway-under-test".into(),
    };
    let (layer, export) = telemetry::otlp_layer(&config)?;
    // This test's runtime is single-threaded: the gateway's tasks all run on this thread,
    // under this subscriber, and no other test sees it.
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(vec![layer]));

    let (url, calls, _upstream) = traced_upstream().await?;
    let gw = one_upstream("weather", &url).await?;
    let client = gw.plain("/mcp").await?;
    weather(&client, Some(DOWNSTREAM)).await?;
    client.cancel().await?;
    let (sent, _) = take_one(&calls)?;

    // Flushing blocks until the collector (served on this thread) has the batch.
    tokio::task::spawn_blocking(move || export.shutdown()).await?;
    let mut spans = Vec::new();
    while let Ok(body) = bodies.try_recv() {
        let request = ExportTraceServiceRequest::decode(body)?;
        spans.extend(
            request
                .resource_spans
                .into_iter()
                .flat_map(|r| r.scope_spans)
                .flat_map(|s| s.spans),
        );
    }
    let span = spans
        .iter()
        .find(|s| s.name == "mcp tools/call")
        .ok_or_else(|| anyhow::anyhow!("no gateway span among {spans:?}"))?;
    let downstream = TraceParent::parse(DOWNSTREAM).ok_or_else(|| anyhow::anyhow!("parse"))?;
    assert_eq!(
        span.trace_id, downstream.trace_id,
        "continues the caller's trace"
    );
    assert_eq!(
        span.parent_span_id, downstream.parent_id,
        "child of the caller's span"
    );
    assert_eq!(
        span.span_id, sent.parent_id,
        "the upstream's parent is the gateway span"
    );
    assert_eq!(sent.trace_id, downstream.trace_id);
    let attribute = |key: &str| {
        span.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.clone())
    };
    assert!(attribute("upstream").is_some() && attribute("method").is_some());
    assert!(attribute("target").is_some());
    Ok(())
}
