use belay_guard::{Kind, SecretKind, SecretScanner};

/// Kind, label, a text holding one, a near miss.
fn cases() -> Vec<(SecretKind, &'static str, String, String)> {
    let azure = format!("AccountKey={}==", "A".repeat(43) + &"b".repeat(43));
    vec![
        (
            SecretKind::PrivateKey,
            "private_key",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMFww\n-----END PUBLIC KEY-----".into(),
        ),
        (
            SecretKind::Bearer,
            "bearer",
            "Authorization: Bearer abc.DEF-123_x".into(),
            "send `Authorization: Bearer <token>`".into(),
        ),
        (
            SecretKind::Jwt,
            "jwt",
            "t=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln".into(),
            "the prefix eyJ starts a JWT".into(),
        ),
        (
            SecretKind::Aws,
            "api_key",
            "key AKIAIOSFODNN7EXAMPLE".into(),
            "key AKIA1234".into(),
        ),
        (
            SecretKind::Azure,
            "api_key",
            azure,
            "AccountKey=short".into(),
        ),
        (
            SecretKind::Gcp,
            "api_key",
            format!("AIza{}", "x".repeat(35)),
            "AIza123".into(),
        ),
        (
            SecretKind::Github,
            "api_key",
            format!("ghp_{}", "a1".repeat(18)),
            "ghp_short".into(),
        ),
        (
            SecretKind::Slack,
            "api_key",
            "xoxb-123456789012-abcdef".into(),
            "xoxb-1".into(),
        ),
        (
            SecretKind::OpenAi,
            "api_key",
            "sk-proj-abcdefghijklmnop1234".into(),
            "uses sk-learn".into(),
        ),
        (
            SecretKind::Stripe,
            "api_key",
            format!("sk_live_{}", "a1B2".repeat(6)),
            "sk_live_x".into(),
        ),
        (
            SecretKind::OtherToken,
            "api_key",
            format!("glpat-{}", "x".repeat(20)),
            "glpat-x".into(),
        ),
        (
            SecretKind::Email,
            "email",
            "mail a.b+c@example.org now".into(),
            "user@localhost".into(),
        ),
        (
            SecretKind::Iban,
            "iban",
            "IBAN DE89 3704 0044 0532 0130 00".into(),
            "IBAN DE89 3704 0044 0532 0130 01".into(),
        ),
        (
            SecretKind::Card,
            "card",
            "card 4111 1111 1111 1111".into(),
            "order 4111 1111 1111 1112".into(),
        ),
        (
            SecretKind::Ssn,
            "ssn",
            "SSN 123-45-6789".into(),
            "SSN 666-45-6789 or 123-00-6789".into(),
        ),
        (
            SecretKind::Phone,
            "phone",
            "call +49 30 1234 5678 or (415) 555-0100".into(),
            "version 1.2.3".into(),
        ),
        (
            SecretKind::IpAddress,
            "ip",
            "from 10.0.0.1 and 2001:db8::1".into(),
            "at 999.1.1.1 around 10:40:00".into(),
        ),
    ]
}

#[test]
fn each_kind_is_found_and_its_near_miss_is_not() -> anyhow::Result<()> {
    let scanner = SecretScanner::new()?;
    for (kind, label, positive, negative) in cases() {
        let only = SecretScanner::builder().kinds(&[kind]).build()?;
        assert!(
            !only.find(&positive).is_empty(),
            "{kind:?} not found in {positive:?}"
        );
        assert!(
            only.find(&negative).is_empty(),
            "{kind:?} found in {negative:?}: {:?}",
            only.find(&negative)
        );
        let redacted = scanner.redact(&positive);
        assert!(
            redacted.contains(&format!("[redacted:{label}]")),
            "{positive:?} -> {redacted}"
        );
        let expected_kind = if matches!(
            kind,
            SecretKind::Email
                | SecretKind::Iban
                | SecretKind::Card
                | SecretKind::Ssn
                | SecretKind::Phone
                | SecretKind::IpAddress
        ) {
            Kind::Pii
        } else {
            Kind::Secret
        };
        assert!(only.find(&positive).iter().all(|f| f.kind == expected_kind));
    }
    Ok(())
}

#[test]
fn redaction_keeps_the_rest_and_resolves_overlaps() -> anyhow::Result<()> {
    let scanner = SecretScanner::new()?;
    let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";
    assert_eq!(
        scanner.redact(&format!("h: Bearer {jwt} ok")),
        "h: [redacted:bearer] ok"
    );
    assert_eq!(scanner.redact("nothing here"), "nothing here");
    let only_mail = SecretScanner::builder()
        .kinds(&[SecretKind::Email])
        .build()?;
    assert_eq!(
        only_mail.redact("a@example.org 4111 1111 1111 1111"),
        "[redacted:email] 4111 1111 1111 1111"
    );
    Ok(())
}

#[test]
fn configured_patterns_redact_by_name() -> anyhow::Result<()> {
    let scanner = SecretScanner::builder()
        .kinds(&[])
        .pattern("ticket", r"TCK-\d{6}")?
        .build()?;
    assert_eq!(scanner.redact("see TCK-123456"), "see [redacted:ticket]");
    assert!(SecretScanner::builder().pattern("broken", "(").is_err());
    Ok(())
}
