//! Each request the chain decides about is admitted once, with one context: policy is
//! asked once and the limiter charged once per call, whichever way the gateway answers rate
//! limits (HTTP 429 or a JSON-RPC error) and whichever transport the caller uses, and the
//! context names the caller's session (a legacy SSE caller's is `sse:` and its URL's
//! `sessionId`, as the handler has always seen it; the HTTP front used to see none).

use std::sync::{Arc, Mutex};

use belay_client::legacy_sse::LegacySseTransport;
use belay_gateway::{Admission, CallContext, Chain, Decide, Decision, Limit, Refused};
use belay_mcp::testkit::{Era, ScriptedClient, object};
use belay_servers::ServerName;
use futures::future::BoxFuture;
use rmcp::{ServiceExt, model::CallToolRequestParams, transport::StreamableHttpClientTransport};
use serde_json::json;

use crate::support::{gateway_with, http_upstream, spec};

/// What the chain was asked: `method target session` per policy decision and per
/// limiter admission.
#[derive(Default)]
struct Asked {
    decided: Mutex<Vec<String>>,
    admitted: Mutex<Vec<String>>,
}

fn line(ctx: &CallContext) -> String {
    format!(
        "{} {} {}",
        ctx.method,
        ctx.target.as_deref().unwrap_or("-"),
        ctx.session.as_deref().unwrap_or("-")
    )
}

struct RecordingPolicy(Arc<Asked>);

impl Decide for RecordingPolicy {
    fn decide(&self, ctx: &CallContext) -> Decision {
        if let Ok(mut decided) = self.0.decided.lock() {
            decided.push(line(ctx));
        }
        Decision::Allow { rule: None }
    }

    // Lists are not requests.
    fn visible(&self, _ctx: &CallContext) -> bool {
        true
    }
}

struct RecordingLimit(Arc<Asked>);

impl Limit for RecordingLimit {
    fn admit<'a>(&'a self, ctx: &'a CallContext) -> BoxFuture<'a, Result<Admission, Refused>> {
        if let Ok(mut admitted) = self.0.admitted.lock() {
            admitted.push(line(ctx));
        }
        Box::pin(async { Ok(Box::new(()) as Admission) })
    }
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    Streamable,
    LegacySse,
}

/// One call of `stock__get_stock_price` over `transport` through a gateway answering rate
/// limits as `status` says; what the chain was asked.
async fn one_call(
    status: &str,
    transport: Transport,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let (url, _seen, _stock) = http_upstream(ServerName::Stock).await?;
    let toml = format!(
        "[[upstream]]\nname = \"stock\"\ntransport = {{ type = \"http\", url = \"{url}\" }}\n\
         [http]\nrate_limit_status = \"{status}\"\n"
    );
    let asked = Arc::new(Asked::default());
    let chain = Chain {
        decide: Arc::new(RecordingPolicy(asked.clone())),
        limit: Arc::new(RecordingLimit(asked.clone())),
        ..Chain::default()
    };
    let gw = gateway_with(spec(&toml)?, chain, |r| r).await?;
    gw.up("stock").await?;
    let person = ScriptedClient::new(Era::Handshake);
    let client = match transport {
        Transport::Streamable => {
            let url = format!("{}/mcp", gw.base);
            person
                .serve(StreamableHttpClientTransport::from_uri(url))
                .await?
        }
        Transport::LegacySse => {
            let sse = LegacySseTransport::builder(format!("{}/sse", gw.base))
                .connect()
                .await?;
            person.serve(sse).await?
        }
    };
    let price = CallToolRequestParams::new("stock__get_stock_price")
        .with_arguments(object(json!({"symbol": "AAPL"})));
    client.call_tool(price).await?;
    client.cancel().await?;
    let taken = |list: &Mutex<Vec<String>>| list.lock().map(|l| l.clone()).unwrap_or_default();
    Ok((taken(&asked.decided), taken(&asked.admitted)))
}

async fn admitted_once(status: &str, transport: Transport) -> anyhow::Result<()> {
    let (decided, admitted) = one_call(status, transport).await?;
    assert_eq!(
        decided.len(),
        1,
        "{status} {transport:?}: policy asked once: {decided:?}"
    );
    assert_eq!(
        admitted, decided,
        "{status} {transport:?}: charged once, the same context"
    );
    let session = decided[0].rsplit(' ').next().unwrap_or_default();
    match transport {
        Transport::Streamable => assert!(
            session != "-" && !session.starts_with("sse:"),
            "{status}: the Mcp-Session-Id: {decided:?}"
        ),
        Transport::LegacySse => assert!(
            session.starts_with("sse:") && session.len() > 4,
            "{status}: the legacy session: {decided:?}"
        ),
    }
    assert!(
        decided[0].starts_with("tools/call get_stock_price "),
        "{decided:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_call_over_streamable_http_is_admitted_once_when_limits_answer_429() -> anyhow::Result<()>
{
    admitted_once("http", Transport::Streamable).await
}

#[tokio::test]
async fn a_call_over_streamable_http_is_admitted_once_when_limits_answer_in_json_rpc()
-> anyhow::Result<()> {
    admitted_once("jsonrpc", Transport::Streamable).await
}

#[tokio::test]
async fn a_call_over_legacy_sse_is_admitted_once_with_its_session_when_limits_answer_429()
-> anyhow::Result<()> {
    admitted_once("http", Transport::LegacySse).await
}

#[tokio::test]
async fn a_call_over_legacy_sse_is_admitted_once_with_its_session_when_limits_answer_in_json_rpc()
-> anyhow::Result<()> {
    admitted_once("jsonrpc", Transport::LegacySse).await
}
