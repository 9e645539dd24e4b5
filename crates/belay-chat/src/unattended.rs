//! A `--prompt` run has nobody at a browser: a URL target that wants a sign-in the token
//! cache cannot give would wait minutes for one. Such targets are found before connecting,
//! by asking each URL once without a token, and the run fails at once saying to sign in
//! with `belay auth login URL` first (whose cached tokens the run then uses).

use std::time::Duration;

use belay_client::{TokenCache, canonical_server_url};

use crate::target::{Target, Transport};

/// How long the probe waits for a server's answer; a server that does not answer is left
/// to the real connection to report.
const PROBE_WAIT: Duration = Duration::from_secs(10);

/// Why `target` cannot be used without a person at a browser, or `None` when it can (no
/// URL, a cached sign-in to use or refresh, or no 401).
pub async fn sign_in_needed(target: &Target, cache: Option<&TokenCache>) -> Option<String> {
    let (url, headers, stream) = match &target.transport {
        Transport::Http { url, headers } => (url, headers, false),
        Transport::Sse { url, headers } => (url, headers, true),
        Transport::Stdio { .. } => return None,
    };
    let canonical = canonical_server_url(url).ok()?;
    if cache.is_some_and(|c| c.path_for(&canonical).exists()) {
        return None;
    }
    let client = reqwest::Client::builder()
        .timeout(PROBE_WAIT)
        .build()
        .ok()?;
    let mut request = if stream {
        client
            .get(url)
            .header(http::header::ACCEPT, "text/event-stream")
    } else {
        client
            .post(url)
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(r#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#)
    };
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    // Only the status is read: an event stream that opens is dropped at once.
    let status = request.send().await.ok()?.status();
    (status == reqwest::StatusCode::UNAUTHORIZED).then(|| {
        format!(
            "{url} needs a sign-in and a --prompt run does not wait for a browser: \
             run `belay auth login {url}` first (its cached tokens are used here)"
        )
    })
}
