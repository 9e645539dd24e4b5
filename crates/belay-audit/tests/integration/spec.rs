use belay_audit::{AuditLog, AuditSpec, Fsync, Sink, WhenFull};
use figment::{
    Figment,
    providers::{Format, Toml},
};

fn parse(toml: &str) -> anyhow::Result<AuditSpec> {
    Ok(Figment::from(Toml::string(toml)).extract()?)
}

#[test]
fn a_full_table_parses() -> anyhow::Result<()> {
    let spec = parse(
        r#"
        sinks = ["store"]
        file = "/var/log/belay/audit.jsonl"
        fsync = "never"
        channel_capacity = 64
        batch_size = 8
        when_full = "drop"
        [redact]
        keys = ["customer_ref"]
        patterns = [{ name = "ticket", regex = 'TCK-\d+' }]
        "#,
    )?;
    assert_eq!(spec.sinks, [Sink::Store]);
    assert_eq!((spec.fsync, spec.when_full), (Fsync::Never, WhenFull::Drop));
    assert_eq!((spec.channel_capacity, spec.batch_size), (64, 8));
    assert_eq!(spec.redact.patterns.len(), 1);
    assert_eq!(
        spec.file_in(std::path::Path::new("/data")),
        std::path::Path::new("/var/log/belay/audit.jsonl")
    );
    Ok(())
}

#[test]
fn defaults_are_safe_and_unknown_keys_are_named() -> anyhow::Result<()> {
    let spec = parse("")?;
    assert!(spec.enabled);
    assert_eq!(spec.sinks, [Sink::File, Sink::Store]);
    assert_eq!(
        (spec.fsync, spec.when_full),
        (Fsync::Batch, WhenFull::Block)
    );
    assert_eq!(
        spec.file_in(std::path::Path::new("/data")),
        std::path::Path::new("/data/audit.jsonl")
    );
    let err = parse("when_ful = \"drop\"")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("when_ful"), "{err}");
    Ok(())
}

#[tokio::test]
async fn unusable_settings_are_refused_at_open() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let refuse = |spec: AuditSpec, db, needle: &str| {
        let err = AuditLog::open(&spec, dir.path(), db)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(needle), "{err}");
    };
    refuse(AuditSpec::default(), None, "no database was given");
    refuse(
        AuditSpec {
            sinks: vec![],
            ..AuditSpec::default()
        },
        None,
        "sinks is empty",
    );
    refuse(
        AuditSpec {
            sinks: vec![Sink::File],
            channel_capacity: 0,
            ..AuditSpec::default()
        },
        None,
        "channel_capacity",
    );
    Ok(())
}
