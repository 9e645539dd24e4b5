//! 2026-07-28 clients through the gateway: an upstream's elicitation and sampling reach the
//! client as `input_required` rounds, whichever way the upstream asks.
//!
//! The stock server is the upstream three ways: on stdio, where it also serves 2026-07-28
//! requests on its handshake connection, and on Streamable HTTP, where it also serves them
//! as POSTs of their own (the gateway asks it once, with `server/discover`), so a
//! 2026-07-28 client's call goes in that era and it asks in its own `input_required`
//! round, which passes through; and on Streamable HTTP refusing that era (as the Python SDK
//! does), where it is asked in its session's (handshake) era, so it asks live and the
//! gateway parks the call between the client's rounds. Callers are signed in by a test
//! layer that turns `Authorization: Bearer NAME` into a `Caller` NAME.
#![allow(deprecated)] // Sampling is deprecated by SEP-2577 but served.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Router,
    extract::Request,
    middleware::{Next, from_fn},
};
use belay_auth::{AccessToken, Caller};
use belay_gateway::{Admission, CallContext, Chain, Decide, Decision, GatewaySpec, Limit, Refused};
use belay_mcp::testkit::{Client, Era, ScriptedClient, input_required, object, text_of};
use belay_servers::ServerName;
use futures::future::BoxFuture;
use rmcp::{
    ClientServiceExt, ErrorData, ServiceError,
    model::{CallToolRequestParams, CallToolResponse, InputRequiredResult, InputResponses},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio_util::sync::DropGuard;

use crate::support::{Running, fixture, gateway_with, handshake_http_upstream, http_upstream};

/// How the gateway reaches the stock upstream, and so how its questions come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    /// Stdio: it serves the call in the client's era and answers `input_required` itself.
    Stdio,
    /// Streamable HTTP: the same, each such call a POST of its own.
    Http,
    /// Streamable HTTP, serving the handshake era only: it asks live, and the gateway
    /// parks the call.
    HandshakeHttp,
}

const EVERY: [Upstream; 3] = [Upstream::Stdio, Upstream::Http, Upstream::HandshakeHttp];

/// The `[[upstream]]` transport of the stock server reached as `kind` (an HTTP one runs
/// until the guard drops).
async fn stock(kind: Upstream) -> anyhow::Result<(String, Option<DropGuard>)> {
    Ok(match kind {
        Upstream::Stdio => {
            let command = serde_json::to_string(fixture())?; // a TOML basic string
            (
                format!("{{ type = \"stdio\", command = {command}, args = [\"stock\"] }}"),
                None,
            )
        }
        Upstream::Http => {
            let (url, _, guard) = http_upstream(ServerName::Stock).await?;
            (
                format!("{{ type = \"http\", url = \"{url}\" }}"),
                Some(guard),
            )
        }
        Upstream::HandshakeHttp => {
            let (url, guard) = handshake_http_upstream(ServerName::Stock).await?;
            (
                format!("{{ type = \"http\", url = \"{url}\" }}"),
                Some(guard),
            )
        }
    })
}

/// Signs in the caller named by `Authorization: Bearer NAME` (a stand-in for
/// `belay_auth::Protection`, which puts the verified `Caller` in the same place).
fn signed_in(router: Router) -> Router {
    router.layer(from_fn(|mut request: Request, next: Next| async move {
        let name = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let claims = json!({"sub": name, "iss": "https://issuer.test", "exp": 4_000_000_000u64});
        if name.is_some()
            && let Some(claims) = claims.as_object()
            && let Ok(caller) = Caller::from_claims(claims.clone(), AccessToken::new("test"))
        {
            request.extensions_mut().insert(Arc::new(caller));
        }
        next.run(request).await
    }))
}

/// Counts what the chain did: policy decisions and admissions by the limiter.
#[derive(Default)]
struct Counts {
    decided: AtomicUsize,
    admitted: AtomicUsize,
}

struct CountingPolicy(Arc<Counts>);

impl Decide for CountingPolicy {
    fn decide(&self, _ctx: &CallContext) -> Decision {
        self.0.decided.fetch_add(1, Ordering::SeqCst);
        Decision::Allow { rule: None }
    }

    // Lists (rmcp's client lists tools to check results) are not requests to count.
    fn visible(&self, _ctx: &CallContext) -> bool {
        true
    }
}

struct CountingLimit(Arc<Counts>);

impl Limit for CountingLimit {
    fn admit<'a>(&'a self, _ctx: &'a CallContext) -> BoxFuture<'a, Result<Admission, Refused>> {
        self.0.admitted.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Box::new(()) as Admission) })
    }
}

/// Rate limits refused in JSON-RPC, so only the chain consults policy and the limiter
/// (with the default HTTP 429, the HTTP front asks them first about each first round).
const JSONRPC_LIMITS: &str = "[http]\nrate_limit_status = \"jsonrpc\"\n";

/// A gateway in front of `stock` over `transport` (`upstream` is added to its table, and
/// `extra` to the file), signed-in callers, a chain that counts; once the upstream is up.
async fn gateway(
    transport: &str,
    upstream: &str,
    extra: &str,
) -> anyhow::Result<(Running, Arc<Counts>)> {
    let toml =
        format!("[[upstream]]\nname = \"stock\"\ntransport = {transport}\n{upstream}\n{extra}");
    let spec: GatewaySpec = belay_gateway::check(&toml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let counts = Arc::new(Counts::default());
    let chain = Chain {
        decide: Arc::new(CountingPolicy(counts.clone())),
        limit: Arc::new(CountingLimit(counts.clone())),
        ..Chain::default()
    };
    let gw = gateway_with(spec, chain, signed_in).await?;
    gw.up("stock").await?;
    Ok((gw, counts))
}

/// A 2026-07-28 client signed in as `user`, on the federated endpoint.
async fn client(gw: &Running, user: &str, person: ScriptedClient) -> anyhow::Result<Client> {
    let config =
        StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", gw.base)).auth_header(user);
    let transport = StreamableHttpClientTransport::from_config(config);
    let lifecycle = person.era.lifecycle();
    Ok(person.serve_with_lifecycle(transport, lifecycle).await?)
}

fn ticker_info() -> CallToolRequestParams {
    CallToolRequestParams::new("stock__get_ticker_info")
        .with_arguments(object(json!({"symbol": "AAPL"})))
}

/// The retry of `params` answering every question of `pending` with `answer`.
fn retry(
    params: CallToolRequestParams,
    pending: &InputRequiredResult,
    answer: Value,
) -> CallToolRequestParams {
    let responses: InputResponses = pending
        .input_requests
        .iter()
        .flatten()
        .map(|(key, _)| (key.clone(), answer.clone()))
        .collect();
    let mut params = params.with_input_responses(responses);
    params.request_state = pending.request_state.clone();
    params
}

fn accept(include: bool) -> Value {
    json!({"action": "accept", "content": {"include_week_range": include}})
}

/// The JSON-RPC error a call ended with.
async fn refused(client: &Client, params: CallToolRequestParams) -> anyhow::Result<ErrorData> {
    match client.call_tool_once(params).await {
        Err(ServiceError::McpError(e)) => Ok(e),
        other => anyhow::bail!("expected a JSON-RPC error, got {other:?}"),
    }
}

async fn complete(client: &Client, params: CallToolRequestParams) -> anyhow::Result<String> {
    match client.call_tool_once(params).await? {
        CallToolResponse::Complete(result) => Ok(text_of(&result)),
        other => anyhow::bail!("expected a complete result, got {other:?}"),
    }
}

#[tokio::test]
async fn elicitation_reaches_a_round_trip_client_from_either_kind_of_upstream() -> anyhow::Result<()>
{
    for kind in EVERY {
        let (transport, _stock) = stock(kind).await?;
        let (gw, counts) = gateway(&transport, "", JSONRPC_LIMITS).await?;
        for include in [true, false] {
            let person = ScriptedClient::new(Era::RoundTrip)
                .answering(json!({ "include_week_range": include }));
            let client = client(&gw, "alice", person.clone()).await?;
            // rmcp's client answers the input_required round with the scripted person.
            let text = text_of(&client.call_tool(ticker_info()).await?);
            assert!(text.contains("Apple Inc."), "{kind:?}: {text}");
            assert_eq!(
                text.contains("52-week range"),
                include,
                "{kind:?}: the answer reached the upstream: {text}"
            );
            assert_eq!(person.questions().len(), 1, "{kind:?}: asked once");
            client.cancel().await?;
        }
        // Each round is a request of its own to policy; the limiter counts calls.
        assert_eq!(counts.decided.load(Ordering::SeqCst), 4, "{kind:?}");
        assert_eq!(counts.admitted.load(Ordering::SeqCst), 2, "{kind:?}");
    }
    Ok(())
}

#[tokio::test]
async fn sampling_reaches_a_round_trip_client_from_either_kind_of_upstream() -> anyhow::Result<()> {
    for kind in EVERY {
        let (transport, _stock) = stock(kind).await?;
        let (gw, _) = gateway(&transport, "", "").await?;
        let mut person = ScriptedClient::new(Era::RoundTrip);
        person.headline = format!("Apple beats the {kind:?} gateway test");
        let client = client(&gw, "alice", person.clone()).await?;
        let result = client
            .call_tool(
                CallToolRequestParams::new("stock__stock_headline_sampling")
                    .with_arguments(object(json!({"symbol": "AAPL"}))),
            )
            .await?;
        let text = text_of(&result);
        assert!(text.contains(&person.headline), "{kind:?}: {text}");
        let asked = person.questions();
        assert_eq!(asked.len(), 1, "{kind:?}: {asked:?}");
        assert!(asked[0].contains("AAPL"), "{kind:?}: {asked:?}");
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_forged_request_state_is_refused_and_the_call_still_completes() -> anyhow::Result<()> {
    for kind in EVERY {
        let (transport, _stock) = stock(kind).await?;
        let (gw, _) = gateway(&transport, "", "").await?;
        let client = client(&gw, "alice", ScriptedClient::new(Era::RoundTrip)).await?;
        let pending = input_required(&client, ticker_info()).await?;
        // The question is keyed by the upstream (its own round) or by the gateway (parked).
        let keys: Vec<&String> = pending
            .input_requests
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        let expected = match kind {
            Upstream::Stdio | Upstream::Http => "week_range",
            Upstream::HandshakeHttp => "elicitation-1",
        };
        assert_eq!(keys, [expected], "{kind:?}");

        let mut forged = retry(ticker_info(), &pending, accept(true));
        forged.request_state = forged.request_state.map(|s| format!("{s}-TAMPERED"));
        let error = refused(&client, forged).await?;
        assert!(
            error.message.contains("requestState is invalid"),
            "{kind:?}: {}",
            error.message
        );

        let text = complete(&client, retry(ticker_info(), &pending, accept(true))).await?;
        assert!(text.contains("52-week range"), "{kind:?}: {text}");
        if kind == Upstream::HandshakeHttp {
            // The parked call has been answered: its state is spent.
            let error = refused(&client, retry(ticker_info(), &pending, accept(true))).await?;
            assert!(
                error.message.contains("already answered"),
                "{}",
                error.message
            );
        }
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn another_caller_cannot_answer_a_parked_call() -> anyhow::Result<()> {
    let (transport, _stock) = stock(Upstream::HandshakeHttp).await?;
    let (gw, _) = gateway(&transport, "", "").await?;
    let alice = client(&gw, "alice", ScriptedClient::new(Era::RoundTrip)).await?;
    let bob = client(&gw, "bob", ScriptedClient::new(Era::RoundTrip)).await?;
    let pending = input_required(&alice, ticker_info()).await?;

    let error = refused(&bob, retry(ticker_info(), &pending, accept(false))).await?;
    assert!(
        error.message.contains("another caller"),
        "{}",
        error.message
    );
    // Nor can alice's state answer another call of hers.
    let other = CallToolRequestParams::new("stock__get_ticker_info")
        .with_arguments(object(json!({"symbol": "MSFT"})));
    let error = refused(&alice, retry(other, &pending, accept(false))).await?;
    assert!(
        error.message.contains("another caller or call"),
        "{}",
        error.message
    );

    // Alice's call waited through both, and takes her answer.
    let text = complete(&alice, retry(ticker_info(), &pending, accept(true))).await?;
    assert!(text.contains("52-week range"), "{text}");
    alice.cancel().await?;
    bob.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_parked_call_expires_with_the_upstream_call_timeout() -> anyhow::Result<()> {
    let (transport, _stock) = stock(Upstream::HandshakeHttp).await?;
    let (gw, _) = gateway(&transport, "timeouts = { call_ms = 1000 }", "").await?;
    let client = client(&gw, "alice", ScriptedClient::new(Era::RoundTrip)).await?;
    let pending = input_required(&client, ticker_info()).await?;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let error = refused(&client, retry(ticker_info(), &pending, accept(true))).await?;
    assert!(error.message.contains("expired"), "{}", error.message);
    // A new call works as ever.
    let again = input_required(&client, ticker_info()).await?;
    let text = complete(&client, retry(ticker_info(), &again, accept(false))).await?;
    assert!(
        text.contains("Apple Inc.") && !text.contains("52-week range"),
        "{text}"
    );
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_retry_is_not_charged_to_the_limiter_again_but_a_replay_is() -> anyhow::Result<()> {
    for (extra, front) in [(JSONRPC_LIMITS, false), ("", true)] {
        let (transport, _stock) = stock(Upstream::Stdio).await?;
        let (gw, counts) = gateway(&transport, "", extra).await?;
        let client = client(&gw, "alice", ScriptedClient::new(Era::RoundTrip)).await?;
        let pending = input_required(&client, ticker_info()).await?;
        complete(&client, retry(ticker_info(), &pending, accept(true))).await?;
        assert_eq!(counts.admitted.load(Ordering::SeqCst), 1, "front: {front}");
        if !front {
            // Both rounds went through policy.
            assert_eq!(counts.decided.load(Ordering::SeqCst), 2);
        }
        // The upstream's state may be replayed (it is the upstream's to judge), at full price.
        complete(&client, retry(ticker_info(), &pending, accept(false))).await?;
        assert_eq!(counts.admitted.load(Ordering::SeqCst), 2, "front: {front}");
        if !front {
            assert_eq!(counts.decided.load(Ordering::SeqCst), 3);
        }
        client.cancel().await?;
    }
    Ok(())
}
