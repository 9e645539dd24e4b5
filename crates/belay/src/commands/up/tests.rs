use serde_json::json;

use super::*;

fn started(new_password: Option<&str>) -> Started {
    Started {
        gateway: "http://127.0.0.1:8000/mcp".into(),
        servers: vec![(
            "stock".into(),
            "http://127.0.0.1:8000/servers/stock/mcp".into(),
        )],
        issuer: Some("http://127.0.0.1:8000".into()),
        new_password: new_password.map(str::to_owned),
        audit: None,
        registry: "http://127.0.0.1:8000/registry/v0.1/servers".into(),
        console: None,
    }
}

#[test]
fn mcp_json_points_at_the_gateway() {
    let value = started_json(&started(None));
    assert_eq!(
        value["mcp_json"]["servers"]["belay"],
        json!({"type": "http", "url": "http://127.0.0.1:8000/mcp"})
    );
    assert_eq!(
        value["servers"]["stock"]["url"],
        "http://127.0.0.1:8000/servers/stock/mcp"
    );
}

#[test]
fn the_password_appears_only_on_the_run_that_made_it() {
    assert_eq!(
        started_json(&started(Some("s3cret")))["user"]["password"],
        "s3cret"
    );
    assert!(started_json(&started(None))["user"]["password"].is_null());
}

#[test]
fn the_reference_servers_come_first_and_whoami_only_with_sign_in() -> anyhow::Result<()> {
    let dir = std::env::temp_dir();
    let spec = gateway_spec(
        &GatewaySpec::default(),
        "http://127.0.0.1:1",
        false,
        "x",
        &dir,
    )?;
    let names: Vec<_> = spec.upstreams.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["stock", "weather", "matheval", "news"]);
    assert!(!spec.auth);
    let spec = gateway_spec(
        &GatewaySpec::default(),
        "http://127.0.0.1:1",
        true,
        "http://127.0.0.1:8000",
        &dir,
    )?;
    assert_eq!(spec.upstreams.len(), 5);
    assert!(
        spec.upstreams
            .iter()
            .all(|u| matches!(u.credentials, CredentialSpec::TokenExchange(_)))
    );
    Ok(())
}
