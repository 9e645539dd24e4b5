//! Every attack proved both ways against the test server: it succeeds against the vulnerable
//! one and is stopped (blocked or detected) by the hardened one.

use std::sync::Arc;

use crate::{
    Options, Outcome, Report, run,
    testing::{Mode, serve, target},
};

async fn attack(url: &str, token: Option<&str>) -> Report {
    let options = Options {
        token: token.map(str::to_owned),
        ..Options::default()
    };
    let started = std::time::Instant::now();
    let progress = |family: &str| eprintln!("{:>8.2?} {family}", started.elapsed());
    match run(&[target(url)], &options, &progress).await {
        Ok(report) => report,
        Err(e) => panic!("the red team could not run: {e}"),
    }
}

fn outcome(report: &Report, attack: &str) -> Outcome {
    let found: Vec<_> = report
        .attempts
        .iter()
        .filter(|a| a.attack.starts_with(attack))
        .collect();
    assert!(!found.is_empty(), "no `{attack}` in {report:#?}");
    found
        .iter()
        .map(|a| a.outcome)
        .min()
        .unwrap_or(Outcome::NotApplicable)
}

/// The attacks both servers are judged on, and what the hardened one makes of them.
const EACH: &[(&str, Outcome)] = &[
    ("poisoned tool", Outcome::Blocked),
    ("shell/eval payloads in `lookup`.host", Outcome::Blocked),
    ("path traversal in `read_note`.path", Outcome::Blocked),
    ("schema-breaking arguments", Outcome::Blocked),
    ("call", Outcome::Blocked),
    ("injection string: direct order", Outcome::Detected),
    ("injection string: Chinese", Outcome::Detected),
    ("injection string: Unicode tag smuggling", Outcome::Detected),
    ("secret in a result: cloud access key", Outcome::Blocked),
    ("secret in a result: payment card", Outcome::Blocked),
    ("secret in a result: private key", Outcome::Blocked),
];

#[tokio::test]
async fn every_attack_succeeds_against_the_vulnerable_server() {
    let (url, _served) = serve(Mode::Vulnerable, None).await;
    let report = attack(&url, None).await;
    for (name, _) in EACH {
        assert_eq!(
            outcome(&report, name),
            Outcome::Succeeded,
            "{name}: {report:#?}"
        );
    }
    assert_eq!(outcome(&report, "anonymous access"), Outcome::Succeeded);
    assert!(report.any_succeeded());
    // The poisoned tool is named with the rule that caught it.
    let poisoned = report
        .attempts
        .iter()
        .find(|a| a.attack.contains("`summarise`"));
    assert!(
        poisoned.is_some_and(|a| a.evidence.contains("poisoning.")),
        "{report:#?}"
    );
    // Malformed JSON-RPC: rmcp's HTTP service answers each cleanly.
    assert_eq!(
        outcome(&report, "malformed JSON-RPC"),
        Outcome::Blocked,
        "{report:#?}"
    );
}

#[tokio::test]
async fn the_hardened_server_stops_every_attack_it_can() {
    let (url, _served) = serve(Mode::Hardened, None).await;
    let report = attack(&url, None).await;
    for (name, stopped) in EACH {
        assert_eq!(outcome(&report, name), *stopped, "{name}: {report:#?}");
    }
    let succeeded: Vec<_> = report
        .attempts
        .iter()
        .filter(|a| a.outcome == Outcome::Succeeded)
        .map(|a| a.attack.as_str())
        .collect();
    // It has no sign-in at all: said once, and nothing else.
    assert_eq!(succeeded, ["anonymous access"], "{report:#?}");
}

/// An auth layer that wants a bearer token and never checks it (or takes it in the query).
fn naive_auth() -> belay_mcp::RouterWrap {
    Arc::new(|router: axum::Router, _url: &str| {
        Ok(router.layer(axum::middleware::from_fn(
            |request: axum::extract::Request, next: axum::middleware::Next| async move {
                let bearer = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7);
                let in_query = request
                    .uri()
                    .query()
                    .is_some_and(|q| q.contains("access_token="));
                if bearer || in_query {
                    next.run(request).await
                } else {
                    axum::http::StatusCode::UNAUTHORIZED.into_response()
                }
            },
        )))
    })
}

use axum::response::IntoResponse;

#[tokio::test]
async fn forged_expired_and_query_tokens_succeed_where_tokens_are_not_checked() {
    let (url, _served) = serve(Mode::Hardened, Some(naive_auth())).await;
    let report = attack(&url, Some("a-real-looking-token")).await;
    assert_eq!(
        outcome(&report, "anonymous access"),
        Outcome::Blocked,
        "{report:#?}"
    );
    for forged in [
        "forged unsigned JWT",
        "JWT for another audience",
        "expired JWT",
        "token in the URL query",
    ] {
        assert_eq!(
            outcome(&report, forged),
            Outcome::Succeeded,
            "{forged}: {report:#?}"
        );
    }
    // Without --token, the query attack has nothing to move and says so.
    let report = attack(&url, None).await;
    assert_eq!(
        outcome(&report, "token in the URL query"),
        Outcome::NotApplicable
    );
    assert!(
        report.notes.iter().any(|n| n.contains("--token")),
        "{report:#?}"
    );
}

#[tokio::test]
async fn a_server_that_answers_malformed_requests_with_500_fails_them() {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("cannot bind: {e}"),
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    // Reads whatever comes (up to the head and a little) and answers 500.
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\nconnection: close\r\n\r\nboom!",
                    )
                    .await;
            });
        }
    });
    let url = format!("http://127.0.0.1:{port}/mcp");
    let attempts =
        crate::attacks::http::malformed("raw", &url, &Default::default(), &Options::default())
            .await;
    assert!(!attempts.is_empty());
    for attempt in &attempts {
        assert_eq!(attempt.outcome, Outcome::Succeeded, "{attempt:#?}");
    }
}
