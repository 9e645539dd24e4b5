use belay_guard::{ArgumentGuard, Kind, Severity};
use serde_json::json;

fn guard() -> anyhow::Result<ArgumentGuard> {
    Ok(ArgumentGuard::new(&json!({
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "command": {"type": "string"},
            "count": {"type": "integer", "minimum": 1},
            "text": {"type": "string"}
        },
        "required": ["path"],
        "additionalProperties": false
    }))?)
}

fn rules(g: &ArgumentGuard, args: serde_json::Value) -> Vec<&'static str> {
    g.check(&args).iter().map(|f| f.rule).collect()
}

#[test]
fn schema_violations_are_high_and_name_the_argument() -> anyhow::Result<()> {
    let g = guard()?;
    assert!(
        g.check(&json!({"path": "notes/a.txt", "count": 2}))
            .is_empty()
    );
    let f = g.check(&json!({"path": "a.txt", "count": "two"}));
    let v = f
        .iter()
        .find(|f| f.kind == Kind::SchemaViolation)
        .ok_or_else(|| anyhow::anyhow!("{f:#?}"))?;
    assert!(
        v.severity >= Severity::High && v.field == "/count" && v.explanation.contains("/count"),
        "{v:#?}"
    );
    assert!(
        rules(&g, json!({"count": 1})).contains(&"arguments.schema"),
        "missing required"
    );
    assert!(
        rules(&g, json!({"path": "a", "extra": 1})).contains(&"arguments.schema"),
        "additional property"
    );
    assert!(
        rules(&g, json!({"path": "a", "count": 0})).contains(&"arguments.schema"),
        "minimum"
    );
    Ok(())
}

#[test]
fn the_default_dialect_is_2020_12_and_a_declared_one_is_honoured() -> anyhow::Result<()> {
    // prefixItems exists in 2020-12 only.
    let g = ArgumentGuard::new(&json!({"type": "array", "prefixItems": [{"type": "integer"}]}))?;
    assert!(!g.check(&json!(["x"])).is_empty());
    let draft7 = ArgumentGuard::new(
        &json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "array", "prefixItems": [{"type": "integer"}]}),
    )?;
    assert!(draft7.check(&json!(["x"])).is_empty());
    Ok(())
}

#[test]
fn bad_schemas_are_errors_and_remote_refs_are_never_fetched() {
    let err = ArgumentGuard::new(&json!({"type": 12}))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("invalid input schema"), "{err}");
    let err = ArgumentGuard::new(&json!({"$ref": "https://schemas.example.invalid/x.json"}))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("invalid input schema"), "{err}");
}

#[test]
fn path_traversal_is_flagged_in_path_parameters_only() -> anyhow::Result<()> {
    let g = guard()?;
    for bad in [
        "../../etc/hosts",
        "notes/../../x",
        "..\\windows\\system32",
        "%2e%2e/%2e%2e/x",
    ] {
        assert!(
            rules(&g, json!({"path": bad})).contains(&"arguments.path_traversal"),
            "{bad}"
        );
    }
    assert!(!rules(&g, json!({"path": "notes/v1..v2.txt"})).contains(&"arguments.path_traversal"));
    assert!(rules(&g, json!({"path": "a", "text": "see ../README"})).is_empty());
    assert!(
        rules(&g, json!({"path": "/home/me/.ssh/id_rsa"})).contains(&"arguments.sensitive_path")
    );
    assert!(rules(&g, json!({"path": "a\u{0}.txt"})).contains(&"arguments.nul_byte"));
    Ok(())
}

#[test]
fn shell_metacharacters_are_flagged_in_command_and_path_parameters() -> anyhow::Result<()> {
    let g = guard()?;
    assert!(rules(&g, json!({"path": "a", "command": "ls -la"})).is_empty());
    for bad in [
        "ls; rm -rf ~",
        "cat a | nc x 1",
        "echo $(id)",
        "a && b",
        "x `id`",
        "a > /etc/x",
        "a\nb",
    ] {
        assert!(
            rules(&g, json!({"path": "a", "command": bad}))
                .contains(&"arguments.shell_metacharacters"),
            "{bad}"
        );
    }
    assert!(rules(&g, json!({"path": "report;rm -rf ~"})).contains(&"arguments.shell_in_path"));
    assert!(rules(&g, json!({"path": "a", "text": "fish & chips; tea"})).is_empty());
    // Nested arguments are walked too, with their JSON pointer.
    let nested = ArgumentGuard::new(&json!({"type": "object"}))?;
    let f = nested.check(&json!({"files": [{"path": "../x"}]}));
    assert!(
        f.iter()
            .any(|f| f.field == "/files/0/path" && f.rule == "arguments.path_traversal"),
        "{f:#?}"
    );
    Ok(())
}

#[test]
fn keys_split_into_words() {
    use belay_guard::key_words;
    assert_eq!(key_words("x-api-key"), ["x", "api", "key"]);
    assert_eq!(key_words("apiKey"), ["api", "key"]);
    assert_eq!(key_words("API_KEY"), ["api", "key"]);
    assert_eq!(key_words("refreshToken"), ["refresh", "token"]);
    assert_eq!(key_words("sha256Key"), ["sha256", "key"]);
    assert_eq!(key_words("filePath"), ["file", "path"]);
}
