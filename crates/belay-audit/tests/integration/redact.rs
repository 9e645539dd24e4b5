use belay_audit::{AuditEvent, Outcome, PatternSpec, RedactSpec, Redactor};
use serde_json::json;

use crate::support::{Env, lines};

fn redactor() -> anyhow::Result<Redactor> {
    Ok(Redactor::new(&RedactSpec {
        keys: vec!["customer_ref".into()],
        patterns: vec![PatternSpec {
            name: "ticket".into(),
            regex: r"TCK-\d{6}".into(),
        }],
    })?)
}

#[test]
fn secret_keys_are_redacted_whole() -> anyhow::Result<()> {
    let r = redactor()?;
    let out = r.redact_value(&json!({
        "password": "hunter2",
        "apiKey": "abc",
        "x-api-key": "abc",
        "refresh_token": {"nested": "value"},
        "Authorization": "Basic dXNlcjpwYXNz",
        "client_secret": "s",
        "CustomerRef": "C-1",
        "max_tokens": 512,
        "query": "AAPL",
    }));
    let s = "[redacted:secret]";
    assert_eq!(
        out,
        json!({
            "password": s, "apiKey": s, "x-api-key": s, "refresh_token": s,
            "Authorization": s, "client_secret": s, "CustomerRef": s,
            "max_tokens": 512, "query": "AAPL",
        })
    );
    Ok(())
}

#[test]
fn secret_values_are_redacted_inside_strings() -> anyhow::Result<()> {
    let r = redactor()?;
    let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlX2J5dGVz";
    let cases = [
        ("header Bearer abc.DEF-123_x", "header [redacted:bearer]"),
        (
            &format!("token {jwt} end") as &str,
            "token [redacted:jwt] end",
        ),
        (
            "key sk-proj-abcdefghijklmnop1234 used",
            "key [redacted:api_key] used",
        ),
        ("ghp_0123456789abcdefghijABCDEFGHIJ", "[redacted:api_key]"),
        ("AKIAIOSFODNN7EXAMPLE", "[redacted:api_key]"),
        ("xoxb-1234567890-abcdef", "[redacted:api_key]"),
        (
            "mail alice.smith+mcp@example.co.uk now",
            "mail [redacted:email] now",
        ),
        ("card 4111 1111 1111 1111 ok", "card [redacted:card] ok"),
        ("card 5500-0000-0000-0004", "card [redacted:card]"),
        ("order 4111 1111 1111 1112", "order 4111 1111 1111 1112"),
        ("phone 555 123 4567", "phone 555 123 4567"),
        ("see TCK-123456", "see [redacted:ticket]"),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
            "[redacted:private_key]",
        ),
        ("nothing to see", "nothing to see"),
    ];
    for (input, expected) in cases {
        assert_eq!(r.redact_str(input), expected, "{input}");
    }
    let nested = r.redact_value(&json!({"list": [{"note": "to bob@example.com"}], "n": 1.5}));
    assert_eq!(
        nested,
        json!({"list": [{"note": "to [redacted:email]"}], "n": 1.5})
    );
    Ok(())
}

#[test]
fn a_bad_pattern_is_refused_with_its_name() {
    let err = Redactor::new(&RedactSpec {
        keys: vec![],
        patterns: vec![PatternSpec {
            name: "broken".into(),
            regex: "(".into(),
        }],
    })
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.contains("\"broken\"") && err.contains("invalid regex"),
        "{err}"
    );
}

#[test]
fn deep_nesting_does_not_recurse_forever() {
    let mut v = json!("x");
    for _ in 0..200 {
        v = json!([v]);
    }
    let out = Redactor::new(&RedactSpec::default())
        .map(|r| r.redact_value(&v))
        .unwrap_or_default();
    assert!(out.to_string().contains("[redacted:too_deep]"));
}

#[tokio::test]
async fn nothing_secret_reaches_either_sink() -> anyhow::Result<()> {
    let env = Env::new()?;
    let log = env.open()?;
    log.record(AuditEvent {
        arguments: Some(json!({"token": "tok-123", "to": "carol@example.org"})),
        outcome: Outcome::Error {
            code: Some(-32602),
            message: "no user carol@example.org".into(),
        },
        ..AuditEvent::new("tools/call")
    })
    .await?;
    log.flush().await?;
    let file = lines(&env.file())?.join("\n");
    let row: String = env
        .db
        .call_blocking(|c| c.query_row("SELECT line FROM audit_records", [], |r| r.get(0)))?;
    for text in [file, row] {
        assert!(
            !text.contains("tok-123") && !text.contains("carol@"),
            "{text}"
        );
        assert!(text.contains("[redacted:secret]") && text.contains("no user [redacted:email]"));
    }
    Ok(())
}

#[test]
fn ibans_ssns_and_cloud_keys_are_redacted_with_the_guard_patterns() -> anyhow::Result<()> {
    let r = redactor()?;
    let cases = [
        (
            "pay DE89 3704 0044 0532 0130 00 now",
            "pay [redacted:iban] now",
        ),
        ("ssn 123-45-6789.", "ssn [redacted:ssn]."),
        (
            "key AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "key [redacted:api_key]",
        ),
        (
            "hook https://hooks.slack.com/services/T000/B000/XXXXabcd",
            "hook [redacted:api_key]",
        ),
        // Not valid: wrong check digits, a reserved SSN area.
        (
            "pay DE89 3704 0044 0532 0130 02",
            "pay DE89 3704 0044 0532 0130 02",
        ),
        ("ssn 666-45-6789", "ssn 666-45-6789"),
    ];
    for (input, expected) in cases {
        assert_eq!(r.redact_str(input), expected, "{input}");
    }
    Ok(())
}
