//! `belay-loadgen token` and `run --connect` against a real gateway that requires sign-in
//! (in this process: the embedded authorization server, the stock server over Streamable HTTP
//! as the upstream, the gateway with policy and audit): what `benches/gateway` relies on.

use std::{net::SocketAddr, path::Path, sync::Arc};

use belay_audit::{AuditLog, AuditSpec, Fsync, Sink};
use belay_auth::ResourceSpec;
use belay_auth_server::ClientSpec;
use belay_gateway::{Chain, Gateway, GatewaySpec};
use belay_servers::ServerName;
use serde_json::Value;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

const CLIENT: &str = "bench";
const SECRET: &str = "bench-secret-for-loadgen-tests";

/// The authorization server, with one confidential client allowed client credentials.
async fn issuer(stop: &CancellationToken) -> anyhow::Result<String> {
    let client = ClientSpec {
        client_id: CLIENT.into(),
        client_secret: Some(SECRET.into()),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["mcp:tools".into()],
        ..ClientSpec::default()
    };
    let tune = |spec: &mut belay_auth_server::ServerSpec| spec.clients = vec![client];
    let (issuer, _server) =
        belay_auth_server::spawn_ephemeral(tune, |router| router, stop.clone()).await?;
    Ok(issuer)
}

/// The stock server over Streamable HTTP; its `/mcp` URL.
async fn stock(stop: &CancellationToken) -> anyhow::Result<String> {
    let router = belay_servers::streamable_router(ServerName::Stock, "/mcp", false, stop.clone());
    let (listener, addr) = belay_mcp::http::bind("127.0.0.1:0").await?;
    tokio::spawn(belay_mcp::http::run(listener, router, stop.clone()));
    Ok(format!("http://{addr}/mcp"))
}

/// The gateway in front of `upstream`, sign-in required, auditing to `dir`.
async fn gateway(
    stop: &CancellationToken,
    issuer: &str,
    upstream: &str,
    dir: &Path,
) -> anyhow::Result<(SocketAddr, AuditLog)> {
    let toml = format!(
        r#"
auth = true
[[upstream]]
name = "stock"
transport = {{ type = "http", url = "{upstream}" }}
[policy]
default = "deny"
[[policy.rules]]
id = "no-compare"
effect = "deny"
names = ["compare_stock_prices"]
[[policy.rules]]
id = "stock-prices"
clients = ["{CLIENT}"]
scopes = ["mcp:tools"]
upstreams = ["stock"]
names = ["get_stock_price"]
arguments.symbol = {{ required = true, enum = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "META", "NVDA"] }}
"#
    );
    let spec: GatewaySpec = belay_gateway::check(&toml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let audit_spec = AuditSpec {
        sinks: vec![Sink::File],
        fsync: Fsync::Never,
        // Not the user's own key: this test's folder is thrown away.
        key_file: Some(dir.join("key").join("audit.key")),
        ..AuditSpec::default()
    };
    let audit = AuditLog::open(&audit_spec, dir, None)?;
    let chain = Chain::from_spec(
        &spec,
        Arc::new(belay_policy::SystemClock),
        Some(audit.clone()),
    )?;
    let gateway = Gateway::start(spec, chain, stop.clone())?;
    let (listener, addr) = belay_mcp::http::bind("127.0.0.1:0").await?;
    let resource = ResourceSpec {
        issuer: issuer.to_owned(),
        // The load generator signs in as a service (client credentials).
        service_clients: vec![CLIENT.into()],
        ..ResourceSpec::default()
    };
    let router = gateway.protected_router(&resource, &format!("http://{addr}"))?;
    tokio::spawn(belay_mcp::http::run(listener, router, stop.clone()));
    Ok((addr, audit))
}

fn loadgen() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_belay-loadgen"));
    command
        .env_remove("BELAY_LOADGEN_BEARER")
        .kill_on_drop(true);
    command
}

/// `run --connect` through the gateway: the arguments common to both runs.
fn connect_run(addr: SocketAddr) -> Command {
    let mut command = loadgen();
    command
        .args("run --name gateway --transport http --sessions 2".split(' '))
        .args("--warmup 0.2 --duration 0.5 --start-timeout 20".split(' '))
        .args(["--tool-prefix", "stock__", "--connect", &addr.to_string()])
        .args(["--pid", &std::process::id().to_string()]);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_run_through_the_gateway_matches_its_audit_log_call_for_call()
-> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let dir = tempfile::tempdir()?;
    let issuer = issuer(&stop).await?;
    let upstream = stock(&stop).await?;
    let (addr, audit) = gateway(&stop, &issuer, &upstream, dir.path()).await?;

    let token = loadgen()
        .args(["token", "--token-url", &format!("{issuer}/token")])
        .args(["--client-id", CLIENT, "--scope", "mcp:tools"])
        .args(["--client-secret-env", "LOADGEN_TEST_SECRET"])
        .args(["--resource", &format!("http://{addr}/mcp")])
        .env("LOADGEN_TEST_SECRET", SECRET)
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&token.stderr);
    anyhow::ensure!(token.status.success(), "token: {stderr}");
    let token = String::from_utf8(token.stdout)?.trim().to_owned();
    anyhow::ensure!(token.split('.').count() == 3, "not a JWT: {token}");

    // Without the token the gateway refuses the handshake.
    let refused = connect_run(addr).output().await?;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");

    let run = connect_run(addr)
        .env("BELAY_LOADGEN_BEARER", &token)
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&run.stderr);
    anyhow::ensure!(run.status.success(), "run: {stderr}");
    let result: Value = serde_json::from_slice(&run.stdout)?;
    assert_eq!(result["errors"], 0, "{result}");
    let requests = result["requests"].as_u64().unwrap_or(0);
    let sent = result["calls_sent"].as_u64().unwrap_or(0);
    assert!(requests > 0, "{result}");
    // The first call and the warm-up's are sent but not measured.
    assert!(sent > requests, "{result}");
    assert_eq!(result["processes"], 1, "{result}");
    assert_eq!(result["command"][0], "connect", "{result}");

    // Every call sent is one audit record, allowed by the rule with the argument constraint.
    audit.flush().await?;
    let text = std::fs::read_to_string(dir.path().join("audit.jsonl"))?;
    let records: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(records.len() as u64, sent, "{result}");
    assert!(
        records
            .iter()
            .all(|r| r["decision"] == "allow" && r["rule"] == "stock-prices"),
        "{:?}",
        records.first()
    );
    Ok(())
}
