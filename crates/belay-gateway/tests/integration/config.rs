//! `check`: what serde cannot see, with the line and column to fix.

use belay_gateway::check;

#[test]
fn duplicate_name_points_at_the_second_name() {
    let text = r#"[gateway]
[[gateway.upstream]]
name = "stock"
transport = { type = "stdio", command = "x" }

[[gateway.upstream]]
name = "stock"
prefix = "other_"
transport = { type = "stdio", command = "x" }
"#;
    let e = check(text).expect_err("duplicate names");
    assert_eq!((e.line, e.column), (Some(7), Some(8)), "{e}");
    assert!(e.message.contains("duplicate name"), "{e}");
    assert!(e.to_string().starts_with("line 7, column 8: "), "{e}");
}

#[test]
fn prefix_that_prefixes_another_is_refused_at_its_line() {
    let text = r#"
[[upstream]]
name = "a"
prefix = "a_"
transport = { type = "stdio", command = "x" }

[[upstream]]
name = "b"
prefix = "a_b_"
transport = { type = "stdio", command = "x" }
"#;
    let e = check(text).expect_err("ambiguous prefixes");
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.message.contains("ambiguous"), "{e}");
}

#[test]
fn equal_prefixes_and_invalid_prefixes_are_refused() {
    let same = r#"
[[upstream]]
name = "a"
prefix = "p_"
transport = { type = "stdio", command = "x" }
[[upstream]]
name = "b"
prefix = "p_"
transport = { type = "stdio", command = "x" }
"#;
    let e = check(same).expect_err("same prefix");
    assert_eq!(e.line, Some(8), "{e}");
    assert!(e.message.contains("already used by upstream `a`"), "{e}");

    let invalid = "[[upstream]]\nname = \"a\"\nprefix = \"a b/\"\ntransport = { type = \"stdio\", command = \"x\" }\n";
    let e = check(invalid).expect_err("space in prefix");
    assert_eq!((e.line, e.column), (Some(3), Some(10)), "{e}");
}

#[test]
fn serde_errors_keep_their_position() {
    let unknown = "[[upstream]]\nname = \"a\"\ncolour = \"red\"\ntransport = { type = \"stdio\", command = \"x\" }\n";
    let e = check(unknown).expect_err("unknown key");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("colour"), "{e}");

    let transport = "[[upstream]]\nname = \"a\"\ntransport = { type = \"carrier-pigeon\" }\n";
    let e = check(transport).expect_err("unknown transport");
    assert_eq!(e.line, Some(3), "{e}");

    let syntax = "[[upstream]]\nname = \"a\n";
    let e = check(syntax).expect_err("unterminated string");
    assert_eq!(e.line, Some(2), "{e}");
}

#[test]
fn secrets_must_come_from_env_or_file_and_urls_must_be_absolute() {
    let inline = r#"
[[upstream]]
name = "a"
transport = { type = "http", url = "http://127.0.0.1:1/mcp" }
credentials = { type = "bearer", secret = { } }
"#;
    let e = check(inline).expect_err("no secret source");
    assert!(e.message.contains("never written inline"), "{e}");
    assert_eq!(e.line, Some(2), "{e}");

    let relative = "[[upstream]]\nname = \"a\"\ntransport = { type = \"http\", url = \"/mcp\" }\n";
    assert!(
        check(relative)
            .expect_err("relative")
            .message
            .contains("URL")
    );

    let auth_header = "[[upstream]]\nname = \"a\"\ntransport = { type = \"http\", url = \"http://h/mcp\", headers = { Authorization = \"Bearer x\" } }\n";
    assert!(
        check(auth_header)
            .expect_err("auth header")
            .message
            .contains("credentials")
    );
}

#[test]
fn a_valid_file_loads_with_defaults() -> anyhow::Result<()> {
    let text = r#"
[gateway]
[[gateway.upstream]]
name = "stock"
transport = { type = "stdio", command = "belay", args = ["serve", "stock"], restart = { policy = "always" } }
[[gateway.upstream]]
name = "remote"
transport = { type = "http", url = "https://mcp.example.com/mcp" }
credentials = { type = "client_credentials", issuer = "https://login.example.com", client_id = "gw", client_secret = { env = "GW_SECRET" }, resource = "https://mcp.example.com/mcp" }
timeouts = { call_ms = 5000 }
"#;
    let spec = check(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(spec.upstreams.len(), 2);
    assert_eq!(spec.upstreams[0].effective_prefix(), "stock__");
    assert_eq!(spec.upstreams[1].timeouts.call_ms, 5000);
    assert_eq!(spec.upstreams[1].timeouts.connect_ms, 10_000);
    assert_eq!(spec.page_size, 100);
    Ok(())
}
