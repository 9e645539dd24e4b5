//! One upstream's failure is a clear error for calls to it, and nothing more.

use belay_gateway::{breaker::BreakerState, upstream::UpstreamState};
use belay_mcp::testkit::{object, text_of};
use belay_servers::ServerName;
use rmcp::{
    ClientHandler, ErrorData, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
        ElicitationAction,
    },
    service::RequestContext,
    transport::StreamableHttpClientTransport,
};
use serde_json::json;

use crate::{
    lab::Lab,
    support::{fixture, gateway, http_upstream},
};

fn stdio_stock() -> String {
    format!(
        r#"
[[upstream]]
name = "stock"
transport = {{ type = "stdio", command = "{}", args = ["stock"], restart = {{ policy = "on-failure", initial_backoff_ms = 10 }} }}
"#,
        fixture()
    )
}

/// A client that, when asked anything, kills the upstream process answering its call.
#[derive(Clone)]
struct KillOnAsk {
    pid: u32,
}

impl ClientHandler for KillOnAsk {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            rmcp::model::Implementation::new("kill-on-ask", "0"),
        )
    }

    async fn create_elicitation(
        &self,
        _request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let killed = tokio::process::Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status()
            .await;
        assert!(killed.is_ok_and(|s| s.success()), "kill the upstream");
        Ok(ElicitResult::new(ElicitationAction::Decline))
    }
}

#[tokio::test]
async fn a_stdio_upstream_killed_mid_call_fails_cleanly_restarts_and_serves_again()
-> anyhow::Result<()> {
    let gw = gateway(&stdio_stock()).await?;
    let generation = gw.up("stock").await?;
    let status = gw.gateway.upstream("stock").map(|u| u.status());
    let pid = status
        .and_then(|s| s.pid)
        .ok_or_else(|| anyhow::anyhow!("no pid"))?;

    let transport = StreamableHttpClientTransport::from_uri(format!("{}/mcp", gw.base));
    let client = KillOnAsk { pid }.serve(transport).await?;
    // get_ticker_info elicits; the client kills the upstream while the call is open.
    let error = client
        .call_tool(
            CallToolRequestParams::new("stock__get_ticker_info")
                .with_arguments(object(json!({"symbol": "AAPL"}))),
        )
        .await
        .expect_err("the upstream died mid-call");
    assert!(error.to_string().contains("upstream `stock`"), "{error}");

    let status = gw.up_after("stock", generation).await?;
    assert_ne!(status.pid, Some(pid), "a new process");

    let price = client
        .call_tool(
            CallToolRequestParams::new("stock__get_stock_price")
                .with_arguments(object(json!({"symbol": "AAPL"}))),
        )
        .await?;
    assert!(text_of(&price).contains("150.25"), "{}", text_of(&price));
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn an_upstream_down_at_start_leaves_the_others_working() -> anyhow::Result<()> {
    let (weather, _, _w) = http_upstream(ServerName::Weather).await?;
    // Nothing listens there: bind a port, then free it.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?
    };
    let gw = gateway(&format!(
        r#"
[[upstream]]
name = "gone"
transport = {{ type = "http", url = "http://{dead}/mcp" }}
timeouts = {{ connect_ms = 2000 }}
[[upstream]]
name = "weather"
transport = {{ type = "http", url = "{weather}" }}
"#
    ))
    .await?;
    gw.up("weather").await?;
    let client = gw.plain("/mcp").await?;
    let tools = client.list_all_tools().await?;
    assert!(tools.iter().all(|t| t.name.starts_with("weather__")));
    assert!(!tools.is_empty());

    gw.until("gone", |s| matches!(s.state, UpstreamState::Down { .. }))
        .await?;
    let error = client
        .call_tool(CallToolRequestParams::new("gone__anything"))
        .await
        .expect_err("the upstream is down");
    assert!(
        error.to_string().contains("upstream `gone` is unavailable"),
        "{error}"
    );

    let result = client
        .call_tool(
            CallToolRequestParams::new("weather__get_weather")
                .with_arguments(object(json!({"city": "London"}))),
        )
        .await?;
    assert!(!text_of(&result).is_empty());
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn failing_health_pings_open_the_breaker() -> anyhow::Result<()> {
    let (lab, url, _l) = Lab::start().await?;
    let gw = gateway(&format!(
        r#"
health_interval_secs = 1
breaker_failures = 2
[[upstream]]
name = "lab"
transport = {{ type = "http", url = "{url}" }}
"#
    ))
    .await?;
    gw.up("lab").await?;
    lab.wait(|s| s.pings >= 1).await?;
    let client = gw.plain("/mcp").await?;
    client
        .call_tool(CallToolRequestParams::new("lab__sicken"))
        .await?;
    // Two failed pings open the breaker; the gateway sends the third only after it has
    // handled the answer to the second.
    let sick_at = lab.seen().pings;
    lab.wait(|s| s.pings >= sick_at + 3).await?;
    let upstream = gw
        .gateway
        .upstream("lab")
        .ok_or_else(|| anyhow::anyhow!("no upstream"))?;
    assert!(
        matches!(upstream.breaker(), BreakerState::Open(_)),
        "{:?}",
        upstream.breaker()
    );
    let error = client
        .call_tool(CallToolRequestParams::new("lab__touch"))
        .await
        .expect_err("the breaker is open");
    assert!(
        error.to_string().contains("circuit breaker is open"),
        "{error}"
    );
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_stopped_gateway_has_ended_its_upstream_session_when_stopped_returns()
-> anyhow::Result<()> {
    // The stock server, recording the method of every request that ends with 204.
    let deleted: std::sync::Arc<std::sync::Mutex<u32>> = Default::default();
    let record = deleted.clone();
    let router = crate::support::reference(ServerName::Stock).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let record = record.clone();
            async move {
                let delete = request.method() == axum::http::Method::DELETE;
                let response = next.run(request).await;
                if delete
                    && response.status() == axum::http::StatusCode::NO_CONTENT
                    && let Ok(mut deleted) = record.lock()
                {
                    *deleted += 1;
                }
                response
            }
        },
    ));
    let (base, _upstream) = crate::support::serve(router).await?;
    let spec = crate::support::spec(&crate::support::http_toml("stock", &format!("{base}/mcp")))?;
    let stop = tokio_util::sync::CancellationToken::new();
    let gw = belay_gateway::Gateway::start(spec, belay_gateway::Chain::default(), stop.clone())?;
    gw.wait_up("stock", 0, crate::support::WAIT).await;
    stop.cancel();
    tokio::time::timeout(crate::support::WAIT, gw.stopped()).await?;
    assert_eq!(
        deleted.lock().map(|d| *d).unwrap_or_default(),
        1,
        "one session, ended"
    );
    Ok(())
}
