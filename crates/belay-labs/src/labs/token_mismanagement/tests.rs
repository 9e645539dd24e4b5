use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;

use super::*;
use crate::labs::testing::{exploit_against, serve_http, target};

#[test]
fn the_forged_token_says_what_its_comment_says() {
    let parts: Vec<&str> = FORGED_JWT.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[2], "", "unsigned");
    let decode = |part: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    assert_eq!(decode(parts[0])["alg"], "none");
    let claims = decode(parts[1]);
    assert_eq!(claims["sub"], "payroll-admin");
    assert_eq!(claims["aud"], "https://payroll.example.com");
}

#[tokio::test]
async fn every_way_in_gets_the_payroll_from_the_vulnerable_server() {
    let report = exploit_against(LabName::TokenMismanagement, Variant::Vulnerable).await;
    assert!(report.succeeded, "{report:#?}");
    assert_eq!(report.steps.len(), 3);
    for way in ["no token", "forged", "URL"] {
        assert!(report.summary.contains(way), "{}", report.summary);
    }
    // The passthrough is visible: the forged token reached the payroll API.
    let forwarded = report.steps[1].answer.text().unwrap_or_default();
    assert!(
        forwarded.contains("the caller's token eyJhbGciOiJu… (") && forwarded.contains("forwarded"),
        "{forwarded}"
    );
    let from_url = report.steps[2].answer.text().unwrap_or_default();
    assert!(from_url.contains("forwarded"), "{from_url}");
}

#[tokio::test]
async fn the_fixed_twin_without_an_issuer_refuses_everyone_and_says_why() {
    let report = exploit_against(LabName::TokenMismanagement, Variant::Fixed).await;
    assert!(!report.succeeded, "{report:#?}");
    assert!(
        report
            .steps
            .iter()
            .all(|s| matches!(s.answer, Answer::Refused { .. })),
        "{report:#?}"
    );
    let (url, _served) = serve_http(LabName::TokenMismanagement, Variant::Fixed).await;
    let refused = match Agent::connect(&[target(&url)], &ConnectOptions::default()).await {
        Ok(_) => panic!("the fixed twin let an anonymous caller in"),
        Err(e) => e.to_string(),
    };
    assert!(refused_entry(&refused), "{refused}");
}

#[tokio::test]
async fn the_fixed_twin_with_an_unreachable_issuer_lets_no_forged_token_in() {
    // An issuer nobody answers at: the forged token cannot be verified, so it opens
    // nothing (503 or 401, never the payroll).
    let shutdown = CancellationToken::new();
    let (ready, url) = tokio::sync::oneshot::channel();
    let wrap = match resource_check("http://127.0.0.1:9") {
        Ok(wrap) => wrap,
        Err(e) => panic!("{e}"),
    };
    let options = HttpOptions {
        port: 0,
        wrap: Some(wrap),
        ..HttpOptions::default()
    };
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = serve(Variant::Fixed, Transport::Http, &options, stop, |url| {
            let _ = ready.send(url);
        })
        .await;
    });
    let url = match url.await {
        Ok(url) => url,
        Err(_) => panic!("the fixed twin did not start"),
    };
    let report = match exploit(&[target(&url)], &ConnectOptions::default()).await {
        Ok(report) => report,
        Err(e) => panic!("{e}"),
    };
    shutdown.cancel();
    assert!(!report.succeeded, "{report:#?}");
}

#[test]
fn a_bad_issuer_is_refused_at_start() {
    assert!(resource_check("not a url").is_err());
}

#[test]
fn the_vulnerable_server_reads_the_header_first_then_the_url() {
    let request = |uri: &str, auth: Option<&str>| {
        let mut builder = http::Request::builder().uri(uri);
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth);
        }
        match builder.body(()) {
            Ok(r) => r.into_parts().0,
            Err(e) => panic!("{e}"),
        }
    };
    let both = request(
        "/mcp?x=1&access_token=url-token",
        Some("Bearer header-token"),
    );
    assert_eq!(token_of(Some(&both)).as_deref(), Some("header-token"));
    let url_only = request("/mcp?x=1&access_token=url-token", None);
    assert_eq!(token_of(Some(&url_only)).as_deref(), Some("url-token"));
    let empty = request("/mcp?access_token=", Some("Bearer "));
    assert_eq!(token_of(Some(&empty)), None);
    assert_eq!(token_of(None), None);
}

#[test]
fn the_fixed_payroll_call_returns_one_row_and_forwarding_returns_all() {
    assert_eq!(payroll_api(&Credential::OnBehalfOf("ada")).len(), 1);
    assert!(payroll_api(&Credential::OnBehalfOf("payroll-admin")).is_empty());
    assert_eq!(
        payroll_api(&Credential::Forwarded("x")).len(),
        PAYROLL.len()
    );
}

#[test]
fn a_refused_session_is_not_a_success_and_an_unreachable_one_is_not_a_refusal() {
    assert!(!refused_entry(
        "cannot connect: error sending request: connection refused"
    ));
    assert!(refused_entry(
        "the server asks for a sign-in and the assistant has no account"
    ));
    let steps: Vec<Step> = Attempt::ALL
        .iter()
        .map(|a| Step {
            tool: "get_payroll".into(),
            arguments: Map::new(),
            because: a.why().into(),
            answer: Answer::Refused {
                code: 401,
                message: "the server refused the session: 401".into(),
                data: None,
            },
        })
        .collect();
    let report = judge(steps);
    assert!(!report.succeeded);
    assert!(
        report
            .stopped_by
            .as_deref()
            .is_some_and(|s| s.contains("resource-server check")),
        "{report:#?}"
    );
}
