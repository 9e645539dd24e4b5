//! `belay chat` end to end: the built binary, the real `belay serve` servers it starts, and
//! a scripted OpenAI-compatible endpoint on loopback playing the model.

use crate::{
    model_script::{Reply, ScriptedModel},
    support::*,
};

/// What one `belay chat` run left.
pub(crate) struct Run {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn transcript(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.stdout).map_err(|e| {
            anyhow::anyhow!(
                "stdout is no JSON transcript ({e}):\n{}\n{}",
                self.stdout,
                self.stderr
            )
        })
    }
}

/// Runs `belay chat ARGS`, typing `input` on its standard input.
pub(crate) async fn chat(args: &[&str], input: &str) -> anyhow::Result<Run> {
    chat_with(args, input, &[]).await
}

/// Runs `belay chat ARGS` with the variables `vars` set, typing `input`.
pub(crate) async fn chat_with(
    args: &[&str],
    input: &str,
    vars: &[(&str, &str)],
) -> anyhow::Result<Run> {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::from(belay());
    for var in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_DEPLOYMENT",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
    ] {
        command.env_remove(var);
    }
    command
        .arg("chat")
        .args(args)
        .env(
            "BELAY_TOKEN_CACHE",
            std::env::temp_dir().join("belay-chat-test-tokens"),
        )
        .envs(vars.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).await?;
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("belay chat did not finish within 60 s"))??;
    Ok(Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// The tool messages the model was sent in `request`, as (call id, content).
pub(crate) fn tool_messages(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn tool_names(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
        .collect()
}

/// Checks a run whose model looked up AAPL's price (150.25) with one call, then answered
/// "AAPL closed at $150.25 on 2023-11-17.".
pub(crate) fn assert_price_lookup(run: &Run) -> anyhow::Result<()> {
    assert!(run.success, "{}", run.stderr);
    // The call on one line, and the streamed answer, on stderr (stdout holds the JSON).
    assert!(
        run.stderr
            .contains(r#"stock.get_stock_price({"symbol":"AAPL"}) → 150.25"#),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("AAPL closed at $150.25 on 2023-11-17."),
        "{}",
        run.stderr
    );
    let transcript = run.transcript()?;
    assert_eq!(transcript["completed"], true);
    let turn = &transcript["turns"][0];
    assert_eq!(turn["end"], "completed");
    assert_eq!(turn["rounds"], 2);
    assert_eq!(turn["answer"], "AAPL closed at $150.25 on 2023-11-17.");
    assert_eq!(turn["tool_calls"][0]["tool"], "stock.get_stock_price");
    assert_eq!(turn["tool_calls"][0]["result"], "150.25");
    assert_eq!(turn["tool_calls"][0]["structured"]["price"], 150.25);
    assert!(turn["tool_calls"][0]["millis"].is_number());
    Ok(())
}

#[tokio::test]
async fn a_price_lookup_streamed() -> anyhow::Result<()> {
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![("call_1", "get_stock_price", r#"{"symbol":"AAPL"}"#)]),
        Reply::Text("AAPL closed at $150.25 on 2023-11-17."),
    ])
    .await?;
    let run = chat(
        &[
            "stock",
            "--base-url",
            &model.base_url,
            "--model",
            "scripted",
            "--json",
            "--prompt",
            "What is Apple's price?",
        ],
        "",
    )
    .await?;
    assert_price_lookup(&run)?;
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["stream"], true);
    assert_eq!(requests[0]["model"], "scripted");
    assert!(tool_names(&requests[0]).contains(&"get_stock_price".to_owned()));
    assert_eq!(
        requests[0]["messages"][0]["content"],
        "What is Apple's price?"
    );
    // The streamed fragments were put together into one call, and its result went back.
    assert_eq!(
        requests[1]["messages"][1]["tool_calls"][0]["function"]["arguments"],
        r#"{"symbol":"AAPL"}"#
    );
    assert_eq!(
        tool_messages(&requests[1]),
        [("call_1".to_owned(), "150.25".to_owned())]
    );
    Ok(())
}

#[tokio::test]
async fn two_servers_in_one_turn_not_streamed() -> anyhow::Result<()> {
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![
            ("call_a", "get_stock_price", r#"{"symbol":"MSFT"}"#),
            ("call_b", "get_weather", r#"{"city":"Tokyo"}"#),
        ]),
        Reply::Text("MSFT is at 369.85 and Tokyo is mild."),
    ])
    .await?;
    let run = chat(
        &[
            "stock",
            "weather",
            "--base-url",
            &model.base_url,
            "--no-stream",
            "--json",
            "--prompt",
            "MSFT and Tokyo?",
        ],
        "",
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    let transcript = run.transcript()?;
    assert_eq!(
        transcript["servers"],
        serde_json::json!(["stock", "weather"])
    );
    let calls = &transcript["turns"][0]["tool_calls"];
    assert_eq!(calls[0]["tool"], "stock.get_stock_price");
    assert_eq!(calls[1]["tool"], "weather.get_weather");
    assert!(
        calls[1]["result"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Tokyo, Japan"),
        "{calls}"
    );
    let requests = model.requests();
    assert_eq!(
        requests[0]["stream"],
        Value::Null,
        "a whole answer was asked for"
    );
    let names = tool_names(&requests[0]);
    assert!(
        names.contains(&"get_weather".to_owned()) && names.contains(&"get_stock_price".to_owned()),
        "{names:?}"
    );
    let results = tool_messages(&requests[1]);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].0, "call_a");
    assert!(results[0].1.parse::<f64>().is_ok(), "{results:?}");
    assert_eq!(results[1].0, "call_b");
    Ok(())
}

#[tokio::test]
async fn tools_of_the_same_name_on_two_servers_are_told_apart() -> anyhow::Result<()> {
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![
            ("c1", "stock__get_stock_price", r#"{"symbol":"NVDA"}"#),
            ("c2", "stock-2__get_stock_price", r#"{"symbol":"TSLA"}"#),
        ]),
        Reply::Text("done"),
    ])
    .await?;
    let belay = env!("CARGO_BIN_EXE_belay");
    let run = chat(
        &[
            "stock",
            "--base-url",
            &model.base_url,
            "--json",
            "--prompt",
            "both",
            "--",
            belay,
            "serve",
            "stock",
        ],
        "",
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    let names = tool_names(&model.requests()[0]);
    assert!(
        names.contains(&"stock__get_stock_price".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"stock-2__get_stock_price".to_owned()),
        "{names:?}"
    );
    assert!(!names.contains(&"get_stock_price".to_owned()), "{names:?}");
    let transcript = run.transcript()?;
    let calls = &transcript["turns"][0]["tool_calls"];
    assert_eq!(calls[0]["tool"], "stock.get_stock_price");
    assert_eq!(calls[1]["tool"], "stock-2.get_stock_price");
    Ok(())
}

#[tokio::test]
async fn a_turn_that_cannot_complete_exits_nonzero() -> anyhow::Result<()> {
    // The model keeps calling tools past the round limit.
    let call = Reply::Calls(vec![("c", "get_stock_price", r#"{"symbol":"AAPL"}"#)]);
    let model = ScriptedModel::start(vec![call.clone(), call.clone(), call]).await?;
    let run = chat(
        &[
            "stock",
            "--base-url",
            &model.base_url,
            "--json",
            "--max-rounds",
            "2",
            "--prompt",
            "loop",
        ],
        "",
    )
    .await?;
    assert!(!run.success);
    assert!(run.stderr.contains("after 2 rounds"), "{}", run.stderr);
    let transcript = run.transcript()?;
    assert_eq!(transcript["completed"], false);
    assert_eq!(transcript["turns"][0]["end"], "round_limit");

    // The endpoint fails: said with its message, and the status says so.
    let model = ScriptedModel::start(vec![Reply::Error(401, "Incorrect API key provided")]).await?;
    let run = chat(
        &["stock", "--base-url", &model.base_url, "--prompt", "hi"],
        "",
    )
    .await?;
    assert!(!run.success);
    assert!(
        run.stderr.contains("Incorrect API key provided"),
        "{}",
        run.stderr
    );
    Ok(())
}

#[tokio::test]
async fn a_tool_error_goes_back_to_the_model() -> anyhow::Result<()> {
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![
            ("c1", "get_stock_price", r#"{"symbol":"ZZZZ"}"#),
            ("c2", "no_such_tool", "{}"),
            ("c3", "get_stock_price", "{not json"),
        ]),
        Reply::Text("Sorry."),
    ])
    .await?;
    let run = chat(
        &["stock", "--base-url", &model.base_url, "--prompt", "ZZZZ?"],
        "",
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    let results = tool_messages(&model.requests()[1]);
    assert!(
        results[0].1.starts_with("Error: Unknown ticker"),
        "{results:?}"
    );
    assert!(
        results[1].1.contains("there is no tool `no_such_tool`"),
        "{results:?}"
    );
    assert!(results[2].1.contains("not valid JSON"), "{results:?}");
    Ok(())
}

#[tokio::test]
async fn without_a_model_the_slash_commands_work() -> anyhow::Result<()> {
    let run = chat(
        &["stock"],
        "/call get_stock_price {\"symbol\":\"MSFT\"}\n/servers\nhello\n/quit\n",
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("no model configured: set OPENAI_API_KEY"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(r#"stock.get_stock_price({"symbol":"MSFT"}) → 380.50"#),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("belay-stock"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("/call TOOL {json} calls a tool yourself"),
        "{}",
        run.stderr
    );
    Ok(())
}

#[test]
fn mistakes_on_the_command_line_say_what_to_fix() -> anyhow::Result<()> {
    let output = belay().args(["chat", "stonks"]).output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`stonks` is no target") && stderr.contains("stock, weather"),
        "{stderr}"
    );
    let output = belay()
        .args(["chat", "stock", "--model", "gpt-4o", "--prompt", "hi"])
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("set OPENAI_API_KEY"));
    Ok(())
}

/// `belay serve NAME --transport TRANSPORT` on a free port, and the URL it listens on.
fn serve_over(name: &str, transport: &str) -> anyhow::Result<(Reaper, String)> {
    let mut child = Reaper(
        belay()
            .args([
                "serve",
                name,
                "--transport",
                transport,
                "--port",
                "0",
                "--log-format",
                "json",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let url = listening_url(&mut child.0)?;
    Ok((child, url))
}

#[tokio::test]
async fn servers_of_an_mcp_json_over_streamable_http_and_legacy_sse() -> anyhow::Result<()> {
    let (_stock, stock_url) = serve_over("stock", "http")?;
    let (_weather, weather_url) = serve_over("weather", "sse")?;
    assert!(weather_url.ends_with("/sse"), "{weather_url}");
    let dir = fresh_dir("chat-mcp-json")?;
    let config = dir.join("mcp.json");
    // VS Code's form: an env variable for the URL, an input for a header.
    std::fs::write(
        &config,
        serde_json::json!({
            "inputs": [{"type": "promptString", "id": "team", "description": "Team name"}],
            "servers": {
                "remote-stock": {"type": "http", "url": "${env:CHAT_TEST_STOCK_URL}",
                                 "headers": {"X-Team": "${input:team}"}},
                "old-weather": {"type": "sse", "url": weather_url}
            }
        })
        .to_string(),
    )?;
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![
            ("c1", "get_stock_price", r#"{"symbol":"META"}"#),
            ("c2", "get_weather", r#"{"city":"Paris"}"#),
        ]),
        Reply::Text("done"),
    ])
    .await?;
    let config_path = config.to_string_lossy().into_owned();
    let run = chat_with(
        &[
            "--mcp-config",
            &config_path,
            "--base-url",
            &model.base_url,
            "--json",
            "--prompt",
            "META and Paris",
        ],
        "blue\n",
        &[("CHAT_TEST_STOCK_URL", &stock_url)],
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    assert!(run.stderr.contains("Team name"), "{}", run.stderr);
    let transcript = run.transcript()?;
    // Sorted by name, as the file's servers are.
    assert_eq!(
        transcript["servers"],
        serde_json::json!(["old-weather", "remote-stock"])
    );
    let calls = &transcript["turns"][0]["tool_calls"];
    assert_eq!(calls[0]["tool"], "remote-stock.get_stock_price");
    assert_eq!(calls[1]["tool"], "old-weather.get_weather");
    assert!(
        calls[1]["result"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Paris, France"),
        "{calls}"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn ctrl_c_stops_a_turn_and_the_transcript_says_so() -> anyhow::Result<()> {
    let model = ScriptedModel::start(vec![Reply::Stall]).await?;
    let mut command = tokio::process::Command::from(belay());
    command
        .args([
            "chat",
            "stock",
            "--base-url",
            &model.base_url,
            "--json",
            "--prompt",
            "think",
        ])
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn()?;
    let pid = child.id().unwrap_or_default().to_string();
    // Once the model has the request, the person presses Ctrl-C.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while model.requests().is_empty() {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the model was never asked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()?;
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("Ctrl-C did not stop the turn"))??;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let transcript: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(transcript["turns"][0]["end"], "interrupted");
    assert_eq!(transcript["completed"], false);
    // The half-done turn is not in the conversation.
    assert_eq!(transcript["messages"], serde_json::json!([]));
    Ok(())
}

#[tokio::test]
async fn progress_without_a_terminal_is_one_line_per_notification() -> anyhow::Result<()> {
    let belay = env!("CARGO_BIN_EXE_belay");
    let run = chat(
        &["--", belay, "serve", "conformance"],
        "/call test_tool_with_progress {}\n/quit\n",
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    for step in ["0% Starting", "50% Halfway", "100% Complete"] {
        assert!(run.stdout.contains(step), "{step}: {}", run.stdout);
    }
    Ok(())
}
