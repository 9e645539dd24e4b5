use super::*;

fn known(name: &str, version: &str, status: &str, remotes: &[&str]) -> Known {
    Known {
        name: name.into(),
        version: version.into(),
        status: status.into(),
        remotes: remotes.iter().map(|r| (*r).to_owned()).collect(),
        packages: Vec::new(),
    }
}

#[test]
fn only_an_approved_version_for_the_same_url_passes() {
    let url = "https://mcp.example.com/mcp";
    let registry = [
        known("io.example/weather", "1.0.0", "blocked", &[url]),
        known("io.example/weather", "1.1.0", "approved", &[url]),
        known("io.example/notes", "1.0.0", "pending", &[]),
        known(
            "io.example/other",
            "1.0.0",
            "approved",
            &["https://other.example/mcp"],
        ),
    ];
    let approved = judge(
        Some("io.example/weather"),
        Some("HTTPS://MCP.example.com/mcp/"),
        &registry,
    );
    assert_eq!(
        approved,
        Verdict::Approved {
            name: "io.example/weather".into(),
            version: "1.1.0".into()
        }
    );
    // By URL alone.
    assert!(judge(None, Some(url), &registry).is_approved());
    // Pending, unknown, another server's URL under an approved name, a stdio upstream
    // without a name.
    let pending = judge(Some("io.example/notes"), None, &registry);
    assert!(
        matches!(&pending, Verdict::NotApproved(why) if why.contains("1.0.0 pending")),
        "{pending:?}"
    );
    assert!(matches!(
        judge(Some("io.example/nope"), None, &registry),
        Verdict::Unknown(_)
    ));
    assert!(matches!(
        judge(None, Some("https://evil.example/mcp"), &registry),
        Verdict::Unknown(_)
    ));
    let elsewhere = judge(Some("io.example/other"), Some(url), &registry);
    assert!(
        matches!(&elsewhere, Verdict::NotApproved(why) if why.contains("other URLs")),
        "{elsewhere:?}"
    );
    assert!(matches!(judge(None, None, &registry), Verdict::Unknown(_)));
    // Only blocked: refused.
    let blocked = [known("io.example/w", "1.0.0", "blocked", &[])];
    assert!(!judge(Some("io.example/w"), None, &blocked).is_approved());
    // Deprecated is still vetted.
    let deprecated = [known("io.example/w", "1.0.0", "deprecated", &[])];
    assert!(judge(Some("io.example/w"), None, &deprecated).is_approved());
}

#[test]
fn a_command_is_matched_by_the_package_it_runs() {
    let mut weather = known("io.example/weather", "1.2.0", "approved", &[]);
    weather.packages = vec!["@example/weather-mcp".into()];
    let mut notes = known("io.example/notes", "1.0.0", "pending", &[]);
    notes.packages = vec!["example-notes".into(), "ghcr.io/example/notes".into()];
    let registry = [weather, notes];
    let words = |text: &str| -> Vec<String> { text.split(' ').map(str::to_owned).collect() };
    for (command, args) in [
        ("npx", "-y @example/weather-mcp@1.2.0"),
        ("npx", "@example/weather-mcp"),
    ] {
        let verdict = judge_command(command, &words(args), &registry);
        assert!(verdict.is_approved(), "{command} {args}: {verdict:?}");
    }
    for (command, args) in [
        ("uvx", "example-notes==1.0"),
        ("docker", "run -i --rm ghcr.io/example/notes:1.0"),
    ] {
        let verdict = judge_command(command, &words(args), &registry);
        assert!(
            matches!(&verdict, Verdict::NotApproved(why) if why.contains("pending")),
            "{command} {args}: {verdict:?}"
        );
    }
    // A lookalike package and a bare script are unknown.
    for (command, args) in [
        ("npx", "-y @example/weather-mcp-evil"),
        ("python", "server.py"),
        ("npx", "-y @evil/weather-mcp"),
    ] {
        let verdict = judge_command(command, &words(args), &registry);
        assert!(
            matches!(verdict, Verdict::Unknown(_)),
            "{command} {args}: {verdict:?}"
        );
    }
}

#[tokio::test]
async fn admit_keeps_every_upstreams_verdict_for_the_console() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("belay-gate-status-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store = RegistryStore::open(belay_store::Db::open(&dir.join("belay.db"))?)?;
    let guard = belay_guard::MetadataGuard::new()?;
    for (name, status) in [
        ("com.example/stock", Status::Approved),
        ("com.example/bad", Status::Blocked),
    ] {
        let document = serde_json::json!({ "name": name, "description": "D.", "version": "1.0.0" });
        store
            .publish(belay_registry::Submission {
                scan: belay_registry::scan_document(&guard, &document),
                document,
                publisher: "client:ci".into(),
                provenance: None,
            })
            .await?;
        let review = belay_registry::Review {
            actor: "cli:test".into(),
            override_reason: None,
        };
        store.set_status(name, "1.0.0", status, &review).await?;
    }
    let stdio = "transport = { type = \"stdio\", command = \"true\" }";
    let spec = belay_gateway::check(&format!(
        "[gateway]\nregistry = \"{}\"\n\
         [[gateway.upstream]]\nname = \"stock\"\nregistry_name = \"com.example/stock\"\n{stdio}\n\
         [[gateway.upstream]]\nname = \"bad\"\nregistry_name = \"com.example/bad\"\n{stdio}\n\
         [[gateway.upstream]]\nname = \"own\"\n{stdio}\n",
        dir.display()
    ))?;
    let gate = RegistryGate::of(&spec, &["own"])?.ok_or_else(|| anyhow::anyhow!("no gate"))?;
    let status = gate.status();
    let admitted = gate.admit(spec).await?;
    let names: Vec<&str> = admitted.upstreams.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["stock", "own"]);
    let view = status
        .read()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    assert_eq!(view.location, dir.display().to_string());
    let lines: Vec<(&str, bool)> = view
        .upstreams
        .iter()
        .map(|l| (l.upstream.as_str(), l.admitted))
        .collect();
    assert_eq!(lines, [("stock", true), ("bad", false), ("own", true)]);
    assert!(
        view.upstreams[0].reason.contains("com.example/stock@1.0.0"),
        "{view:?}"
    );
    assert!(view.upstreams[1].reason.contains("blocked"), "{view:?}");
    assert!(
        view.upstreams[2].reason.contains("not looked up"),
        "{view:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn a_list_response_reads_belays_status_else_the_official_one() {
    let page = serde_json::json!({ "servers": [
        { "server": { "name": "a/x", "version": "1", "remotes": [{ "type": "sse", "url": "https://a/sse" }] },
          "_meta": { "belay.registry/governance": { "status": "pending" },
                     "io.modelcontextprotocol.registry/official": { "status": "active" } } },
        { "server": { "name": "b/y", "version": "2" },
          "_meta": { "io.modelcontextprotocol.registry/official": { "status": "active" } } },
        { "server": { "name": "c/z", "version": "3" },
          "_meta": { "io.modelcontextprotocol.registry/official": { "status": "deleted" } } },
        { "server": { "version": "no name" }, "_meta": {} },
    ]});
    let found = known_page(&page);
    let statuses: Vec<(&str, &str)> = found
        .iter()
        .map(|k| (k.name.as_str(), k.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [("a/x", "pending"), ("b/y", "approved"), ("c/z", "blocked")]
    );
    assert_eq!(found[0].remotes, ["https://a/sse"]);
}
