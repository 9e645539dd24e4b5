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

/// The Petstore of the fixture on a loopback port of this test's runtime; its `/v1` base.
async fn petstore_service() -> anyhow::Result<(String, belay_openapi::petstore::Petstore)> {
    let store = belay_openapi::petstore::Petstore::new(None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v1", listener.local_addr()?);
    let router = store.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((base, store))
}

fn serve_args(base: &str) -> Vec<String> {
    [
        "openapi",
        "serve",
        &petstore(),
        "--base-url",
        base,
        "--allow-host",
        "127.0.0.1",
        "--exclude-tag",
        "admin",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Calls `getPet` with `pet_id` and returns the tool result as JSON.
async fn get_pet(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ScriptedClient>,
    pet_id: &str,
) -> anyhow::Result<Value> {
    let result = client
        .call_tool(
            CallToolRequestParams::new("getPet")
                .with_arguments(object(serde_json::json!({ "petId": pet_id }))),
        )
        .await?;
    Ok(serde_json::to_value(result)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_over_http_and_stdio_and_keeps_arguments_in_their_place() -> anyhow::Result<()>
{
    let (base, store) = petstore_service().await?;

    // Streamable HTTP: the announced URL serves the document's operations.
    let mut child = belay()
        .args(serve_args(&base))
        .args(["--transport", "http", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let url = tokio::task::spawn_blocking(move || {
        let url = stdout_line(&mut child, "mcp");
        (child, url)
    })
    .await?;
    let reaper = Reaper(url.0);
    let url = url.1?;
    let client = ScriptedClient::new(Era::Handshake)
        .serve(StreamableHttpClientTransport::from_uri(url.as_str()))
        .await?;
    let names: Vec<String> = client
        .list_all_tools()
        .await?
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(
        names,
        ["listPets", "createPet", "getPet", "get_pets_petId_owner"],
        "deletePet carries the excluded tag"
    );
    let rex = get_pet(&client, "1").await?;
    assert_eq!(rex["isError"], false, "{rex}");
    assert_eq!(rex["structuredContent"]["name"], "Rex", "{rex}");
    // A path argument stays one path segment: no way to /v1/admin or out of /v1.
    for escape in ["../admin", "..%2Fadmin", "1/../../admin", "1?x=1#"] {
        let answer = get_pet(&client, escape).await?;
        assert_eq!(answer["isError"], true, "{escape}: {answer}");
    }
    let targets: Vec<String> = store.log().into_iter().map(|s| s.target).collect();
    assert!(targets.contains(&"/v1/pets/1".to_owned()), "{targets:?}");
    assert!(
        targets
            .iter()
            .all(|t| t.starts_with("/v1/pets/") && !t.contains("admin/") && t != "/v1/admin"),
        "{targets:?}"
    );
    assert!(
        targets.iter().any(|t| t == "/v1/pets/..%2Fadmin"),
        "the traversal went out percent-encoded: {targets:?}"
    );
    client.cancel().await?;
    drop(reaper);

    // stdio: stdout is the protocol channel and nothing else.
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_belay"));
    command.args(serve_args(&base));
    let client = ScriptedClient::new(Era::Handshake)
        .serve(TokioChildProcess::new(command)?)
        .await?;
    let tom = get_pet(&client, "2").await?;
    assert_eq!(tom["structuredContent"]["name"], "Tom", "{tom}");
    let missing = get_pet(&client, "404").await?;
    assert_eq!(missing["isError"], true, "{missing}");
    client.cancel().await?;
    Ok(())
}

#[test]
fn serve_refuses_a_document_it_cannot_use_before_listening() -> anyhow::Result<()> {
    let out = belay()
        .args(["openapi", "serve", "/nonexistent/openapi.yaml"])
        .args(["--transport", "http", "--port", "0"])
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read the OpenAPI document"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("mcp"),
        "nothing was announced"
    );
    // The document's own servers are public: a private base URL needs --allow-host.
    let out = belay()
        .args(["openapi", "serve", &petstore()])
        .args(["--base-url", "http://127.0.0.1:9/v1"])
        .args(["--transport", "http", "--port", "0"])
        .output()?;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
