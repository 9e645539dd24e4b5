//! Oversize and malformed JSON-RPC over Streamable HTTP, sent raw. A server should answer each
//! with a clean 4xx or a JSON-RPC error and keep serving; a 5xx, a hang or a server that no
//! longer answers afterwards is the attack succeeding (a denial of service any caller can
//! cause). Tagged MCP05: input reaching the server unchecked.

use std::collections::BTreeMap;

use crate::{Attempt, Options, Outcome, Risk};

/// The oversize body: 8 MiB, far above what any JSON-RPC request needs.
const OVERSIZE: usize = 8 << 20;
/// How deep the nested-array body goes (a recursive parser without a limit overflows).
const DEPTH: usize = 100_000;

/// The bodies sent: a name for the table and the bytes.
fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let padding = "A".repeat(OVERSIZE);
    vec![
        (
            "truncated JSON",
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"#.to_vec(),
        ),
        (
            "not JSON-RPC (wrong version, no method)",
            br#"{"jsonrpc":"1.0","id":{"nested":[1,2,3]},"params":"x"}"#.to_vec(),
        ),
        ("invalid UTF-8", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}".to_vec()),
        (
            "deeply nested JSON",
            format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH)).into_bytes(),
        ),
        (
            "oversize request (8 MiB)",
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","arguments":{{"a":"{padding}"}}}}}}"#
            )
            .into_bytes(),
        ),
    ]
}

fn client(options: &Options) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(options.call_timeout)
        .build()
        .map_err(|e| e.to_string())
}

fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &BTreeMap<String, String>,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    let mut request = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
}

/// Whether `url` answers HTTP at all: its status for a `ping`, or why there is none.
pub(crate) async fn reachable(
    url: &str,
    headers: &BTreeMap<String, String>,
    options: &Options,
) -> Result<u16, String> {
    let client = client(options)?;
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec();
    post(&client, url, headers, ping)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("no HTTP answer from {url}: {}", error_chain(&e)))
}

pub(crate) async fn malformed(
    target: &str,
    url: &str,
    headers: &BTreeMap<String, String>,
    options: &Options,
) -> Vec<Attempt> {
    let client = match client(options) {
        Ok(client) => client,
        Err(e) => {
            return vec![Attempt::new(
                Risk::CommandInjection,
                "malformed JSON-RPC",
                target,
                Outcome::NotApplicable,
                format!("no HTTP client: {e}"),
            )];
        }
    };
    let mut attempts = Vec::new();
    for (name, body) in bodies() {
        let answer = post(&client, url, headers, body).send().await;
        let alive = reachable(url, headers, options).await.is_ok();
        let (outcome, evidence) = match (&answer, alive) {
            (_, false) => (
                Outcome::Succeeded,
                format!(
                    "the server stopped answering after it ({})",
                    answered(&answer)
                ),
            ),
            (Ok(response), true) if response.status().is_server_error() => (
                Outcome::Succeeded,
                format!("answered {} (a server error)", response.status()),
            ),
            (Err(e), true) if e.is_timeout() => (
                Outcome::Succeeded,
                format!(
                    "no answer within {} s (the request hung)",
                    options.call_timeout.as_secs()
                ),
            ),
            (Ok(_) | Err(_), true) => (
                Outcome::Blocked,
                format!("{}, and the server kept serving", answered(&answer)),
            ),
        };
        attempts.push(Attempt::new(
            Risk::CommandInjection,
            format!("malformed JSON-RPC: {name}"),
            target,
            outcome,
            evidence,
        ));
    }
    attempts
}

fn answered(answer: &Result<reqwest::Response, reqwest::Error>) -> String {
    match answer {
        Ok(response) => format!("answered {}", response.status()),
        Err(e) => format!("closed the connection: {}", error_chain(e)),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
