//! `belay openapi inspect` and `belay gateway check` with an OpenAPI upstream, as processes.

use serde_json::Value;

use crate::support::*;

fn petstore() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../belay-openapi/fixtures/petstore.yaml"
    )
    .to_owned()
}

#[test]
fn inspect_json_lists_the_tools_and_what_is_left_out() -> anyhow::Result<()> {
    let out = belay()
        .args(["openapi", "inspect", &petstore(), "--json"])
        .args([
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--allow-host",
            "127.0.0.1",
        ])
        .args(["--exclude-tag", "admin"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout)?;
    let names: Vec<&str> = doc["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["listPets", "createPet", "getPet", "get_pets_petId_owner"]
    );
    assert_eq!(doc["title"], "Petstore");
    assert_eq!(doc["version"], "3.0");
    assert_eq!(doc["base_url"], "http://127.0.0.1:9/v1");
    assert_eq!(doc["skipped"][0]["operation_id"], "deletePet");
    assert_eq!(doc["skipped"][0]["reason"], "excluded by exclude_tags");
    let get_pet = &doc["tools"][2];
    assert_eq!(get_pet["method"], "GET");
    assert_eq!(get_pet["path"], "/pets/{petId}");
    assert_eq!(get_pet["input_schema"]["required"][0], "petId");
    assert_eq!(get_pet["output_schema"]["type"], "object");
    Ok(())
}

#[test]
fn inspect_prints_a_table_and_says_what_the_base_url_needs() -> anyhow::Result<()> {
    let out = belay()
        .args(["openapi", "inspect", &petstore()])
        .env("NO_COLOR", "1")
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Petstore (OpenAPI 3.0): 5 tools"), "{text}");
    assert!(text.contains("set `base_url`"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("getPet") && l.contains("GET") && l.contains("petId*")),
        "{text}"
    );
    Ok(())
}

#[test]
fn inspect_refuses_what_is_not_openapi_3() -> anyhow::Result<()> {
    let dir = fresh_dir("openapi-swagger")?;
    let swagger = dir.join("swagger.yaml");
    std::fs::write(
        &swagger,
        "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n",
    )?;
    let out = belay()
        .args(["openapi", "inspect"])
        .arg(&swagger)
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Swagger 2.0"), "{err}");
    let missing = belay()
        .args(["openapi", "inspect", "/nonexistent/openapi.yaml"])
        .output()?;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the OpenAPI document"));
    Ok(())
}

#[test]
fn gateway_check_takes_an_openapi_upstream_and_refuses_misplaced_credentials() -> anyhow::Result<()>
{
    let dir = fresh_dir("openapi-check")?;
    let good = dir.join("good.toml");
    let upstream = format!(
        "[[gateway.upstream]]\nname = \"pets\"\ntransport = {{ type = \"openapi\", document = \"{}\", \
         base_url = \"http://127.0.0.1:9/v1\", allow_hosts = [\"127.0.0.1\"], include_tags = [\"pets\"], \
         credential = {{ type = \"api_key\", in = \"header\", name = \"X-API-Key\", secret = {{ env = \"PETS_KEY\" }} }} }}\n",
        petstore()
    );
    std::fs::write(&good, &upstream)?;
    let out = belay().args(["gateway", "check"]).arg(&good).output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("openapi"));

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        format!("{upstream}credentials = {{ type = \"bearer\", secret = {{ env = \"X\" }} }}\n"),
    )?;
    let out = belay().args(["gateway", "check"]).arg(&bad).output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("transport.credential"), "{err}");
    Ok(())
}
