//! An upstream nobody here wrote: the official Python SDK's server (`tests/python/
//! sdk_upstream.py`, PyPI `mcp` from `.tools/`, which `scripts/setup` installs), over stdio,
//! Streamable HTTP and the 2024-11-05 HTTP+SSE transport, called through the gateway by
//! clients of both protocol eras.
//!
//! The gateway opens its upstream sessions with `initialize`, so the SDK serves them in the
//! handshake era and refuses any request carrying the 2026-07-28 envelope (-32600). A
//! 2026-07-28 caller's request must reach it translated: trace context and a progress
//! token in `_meta`, the caller's log level as `logging/setLevel`, nothing else of the
//! envelope; and its questions must come back to each caller in the caller's era.
//!
//! Over Streamable HTTP the SDK also serves 2026-07-28 requests outside any session (it
//! answers `server/discover` so), and there a 2026-07-28 caller's request goes to it in that
//! era, a POST of its own carrying the caller's envelope. Its tools ask their questions
//! live, which the SDK itself refuses in that era (-32600, "no back-channel"): a
//! 2026-07-28 client gets that refusal from it, directly or through the gateway.
//!
//! Without the Python SDK (no `BELAY_PYTHON`, no `.tools/bin/python`) these tests say so
//! and pass: run `scripts/setup` first.
#![allow(deprecated)] // Logging and sampling are deprecated by SEP-2577 but still served.

use std::{path::PathBuf, process::Stdio, time::Duration};

use belay_mcp::testkit::{Client, Era, Notice, ScriptedClient, object, text_of};
use rmcp::{
    ClientServiceExt,
    model::{
        CallToolRequestParams, ClientRequest, LoggingLevel, Request, RequestMetaObject,
        ServerResult, SetLevelRequestParams,
    },
    service::PeerRequestOptions,
    transport::StreamableHttpClientTransport,
};
use serde_json::{Value, json};

use crate::support::{Running, WAIT, gateway};

/// The caller's trace: the upstream must see the same trace id.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The Python with the SDK in it, or `None` (and a note) when there is none.
pub(crate) fn python() -> Option<PathBuf> {
    let python = std::env::var_os("BELAY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/python")
        });
    if python.exists() {
        return Some(python);
    }
    eprintln!(
        "skipping: no Python SDK at {} (set BELAY_PYTHON or run scripts/setup)",
        python.display()
    );
    None
}

fn script() -> String {
    format!(
        "{}/tests/python/sdk_upstream.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// How the gateway reaches the SDK server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wire {
    Stdio,
    StreamableHttp,
    LegacySse,
}

/// A gateway in front of the SDK server as upstream `sdk` over `wire`, once it is up; an
/// HTTP server process runs until the returned child drops.
pub(crate) async fn sdk_gateway(
    python: &PathBuf,
    wire: Wire,
) -> anyhow::Result<(Running, Option<tokio::process::Child>)> {
    // TOML basic strings are JSON strings.
    let command = serde_json::to_string(python)?;
    let quoted = serde_json::to_string(&script())?;
    let (transport, child) = match wire {
        Wire::Stdio => (
            format!("{{ type = \"stdio\", command = {command}, args = [{quoted}, \"stdio\"] }}"),
            None,
        ),
        Wire::StreamableHttp | Wire::LegacySse => {
            let (mode, path, kind) = match wire {
                Wire::StreamableHttp => ("streamable-http", "mcp", "http"),
                _ => ("sse", "sse", "sse"),
            };
            let port = free_port()?;
            let child = tokio::process::Command::new(python)
                .args([script(), mode.to_owned(), port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            listening(port).await?;
            let url = format!("http://127.0.0.1:{port}/{path}");
            (
                format!("{{ type = \"{kind}\", url = \"{url}\" }}"),
                Some(child),
            )
        }
    };
    let toml = format!("[[upstream]]\nname = \"sdk\"\ntransport = {transport}\n");
    let gw = gateway(&toml).await?;
    gw.up("sdk").await?;
    Ok((gw, child))
}

/// Waits until something listens on loopback `port` (the SDK server takes a moment).
async fn listening(port: u16) -> anyhow::Result<()> {
    tokio::time::timeout(WAIT, async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the SDK server did not listen on port {port}"))
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `person` connected to the federated endpoint in its era.
async fn connect(gw: &Running, person: ScriptedClient) -> anyhow::Result<Client> {
    let transport = StreamableHttpClientTransport::from_uri(format!("{}/mcp", gw.base));
    let lifecycle = person.era.lifecycle();
    Ok(person.serve_with_lifecycle(transport, lifecycle).await?)
}

/// Calls `sdk__inspect` as a caller of `person`'s era who wants logs at `level` (per
/// request in 2026-07-28, with `logging/setLevel` before) and progress, in the trace
/// [`TRACEPARENT`]; checks what the upstream got and what the caller heard.
async fn inspect(
    gw: &Running,
    wire: Wire,
    person: ScriptedClient,
    level: LoggingLevel,
) -> anyhow::Result<()> {
    let era = person.era;
    // Over Streamable HTTP, a 2026-07-28 caller's call reaches the SDK in that era.
    let in_era = matches!((era, wire), (Era::RoundTrip, Wire::StreamableHttp));
    let client = connect(gw, person.clone()).await?;
    let mut meta = RequestMetaObject::new();
    meta.set_traceparent(TRACEPARENT);
    meta.set_tracestate("vendor=opaque");
    match era {
        Era::RoundTrip => meta.set_log_level(level),
        Era::Handshake => client.set_level(SetLevelRequestParams::new(level)).await?,
    }
    let request =
        ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("sdk__inspect")));
    let options = PeerRequestOptions::with_timeout(WAIT).with_meta(meta);
    let handle = client.send_request_with_option(request, options).await?;
    let token = handle.progress_token.clone();
    let ServerResult::CallToolResult(result) = handle.await_response().await? else {
        anyhow::bail!("{era:?}: sdk__inspect answered with something other than a tool result");
    };
    let text = text_of(&result);
    assert_ne!(result.is_error, Some(true), "{era:?}: {text}");
    let seen: Value = serde_json::from_str(&text)?;

    let meta = seen["meta"].as_object().cloned().unwrap_or_default();
    let envelope: Vec<&String> = meta
        .keys()
        .filter(|k| k.starts_with("io.modelcontextprotocol/"))
        .collect();
    if in_era {
        assert_eq!(
            meta.get("io.modelcontextprotocol/protocolVersion"),
            Some(&json!("2026-07-28")),
            "{meta:?}"
        );
        assert_eq!(
            meta.get("io.modelcontextprotocol/logLevel"),
            Some(&serde_json::to_value(level)?),
            "{meta:?}"
        );
    } else {
        assert!(
            envelope.is_empty(),
            "{era:?}: envelope keys reached a handshake-era upstream: {meta:?}"
        );
    }
    assert!(meta.contains_key("progressToken"), "{era:?}: {meta:?}");
    let traceparent = meta
        .get("traceparent")
        .and_then(Value::as_str)
        .unwrap_or("");
    assert!(
        traceparent.starts_with(&format!("00-{TRACE_ID}-")),
        "{era:?}: the upstream continues the caller's trace: {traceparent:?}"
    );
    assert_eq!(
        meta.get("tracestate"),
        Some(&json!("vendor=opaque")),
        "{era:?}"
    );
    // In 2026-07-28 the level travels with the request, and no session level is set.
    let wanted = match in_era {
        true => Value::Null,
        false => serde_json::to_value(level)?,
    };
    assert_eq!(
        seen["level"], wanted,
        "{era:?}: the session logs at the caller's level"
    );

    // Notices travel apart from the result; wait for them.
    let expected_logs = match level {
        LoggingLevel::Error => vec![LoggingLevel::Error],
        _ => vec![LoggingLevel::Warning, LoggingLevel::Error],
    };
    let heard = tokio::time::timeout(WAIT, async {
        loop {
            let notices = person.notices();
            let progress = notices
                .iter()
                .filter(|n| matches!(n, Notice::Progress(_)))
                .count();
            let logs = notices
                .iter()
                .filter(|n| matches!(n, Notice::Log(_)))
                .count();
            if progress >= 2 && logs >= expected_logs.len() {
                return notices;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| person.notices());
    let mut progress = Vec::new();
    let mut logs = Vec::new();
    for notice in heard {
        match notice {
            Notice::Progress(p) => progress.push(p),
            Notice::Log(l) => logs.push(l.level),
        }
    }
    assert_eq!(progress.len(), 2, "{era:?}: {progress:?}");
    assert!(
        progress.iter().all(|p| p.progress_token == token),
        "{era:?}: progress comes with the caller's own token {token:?}: {progress:?}"
    );
    assert_eq!(logs, expected_logs, "{era:?}: only the levels asked for");
    client.cancel().await?;
    Ok(())
}

/// Calls `sdk__ask` (elicitation) and `sdk__headline` (sampling) as a caller of `era`,
/// letting the client answer (a 2026-07-28 caller gets `input_required` rounds).
async fn questions(gw: &Running, wire: Wire, era: Era) -> anyhow::Result<()> {
    let person = ScriptedClient::new(era).answering(json!({"include": true}));
    let client = connect(gw, person.clone()).await?;
    let call =
        |name: &str| CallToolRequestParams::new(name.to_owned()).with_arguments(object(json!({})));
    if let (Era::RoundTrip, Wire::StreamableHttp) = (era, wire) {
        // In that era the SDK's live questions are its own to refuse, as to any client.
        for tool in ["sdk__ask", "sdk__headline"] {
            let refused = client.call_tool(call(tool)).await;
            let said = format!("{refused:?}");
            assert!(said.contains("back-channel"), "{tool}: {said}");
        }
        assert!(person.questions().is_empty(), "{:?}", person.questions());
        client.cancel().await?;
        return Ok(());
    }
    let asked = text_of(&client.call_tool(call("sdk__ask")).await?);
    assert_eq!(
        asked, "include=true",
        "{era:?}: the answer reached the upstream"
    );
    let headline = text_of(&client.call_tool(call("sdk__headline")).await?);
    assert_eq!(headline, "Scripted headline", "{era:?}");
    assert_eq!(
        person.questions(),
        ["Include the extra detail?", "Write a headline"],
        "{era:?}: each question reached the caller once"
    );
    client.cancel().await?;
    Ok(())
}

/// Everything above, for one wire: a 2026-07-28 caller first, so the level the upstream
/// reports is the one its request asked for and not a handshake caller's `setLevel`.
async fn sdk_upstream_over(wire: Wire) -> anyhow::Result<()> {
    let Some(python) = python() else {
        return Ok(());
    };
    let (gw, _server) = sdk_gateway(&python, wire).await?;
    inspect(
        &gw,
        wire,
        ScriptedClient::new(Era::RoundTrip),
        LoggingLevel::Warning,
    )
    .await?;
    inspect(
        &gw,
        wire,
        ScriptedClient::new(Era::Handshake),
        LoggingLevel::Error,
    )
    .await?;
    for era in Era::BOTH {
        questions(&gw, wire, era).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_python_sdk_stdio_upstream_serves_callers_of_both_eras() -> anyhow::Result<()> {
    sdk_upstream_over(Wire::Stdio).await
}

#[tokio::test]
async fn a_python_sdk_streamable_http_upstream_serves_callers_of_both_eras() -> anyhow::Result<()> {
    sdk_upstream_over(Wire::StreamableHttp).await
}

#[tokio::test]
async fn a_python_sdk_legacy_sse_upstream_serves_callers_of_both_eras() -> anyhow::Result<()> {
    sdk_upstream_over(Wire::LegacySse).await
}
