//! `belay chat` through `belay up`: the console signs in to the federated gateway in the
//! browser flow (the test plays the person at the login form), the model calls tools of two
//! upstreams, and `stock__get_investment_advice`'s question reaches the person's form across
//! the gateway, in both protocol eras; a `--prompt` run with no cached sign-in fails at once
//! instead of waiting.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::{
    chat::tool_messages,
    model_script::{Reply, ScriptedModel},
    support::*,
};

/// Reads `belay chat`'s stderr until it prints the sign-in URL, signs in there as `user`
/// (the login form, as a person would fill it in), and follows the redirect back to the
/// console's loopback listener. Returns what stderr said so far.
async fn sign_in_when_asked(
    stderr: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    user: &str,
    password: &str,
) -> anyhow::Result<Vec<String>> {
    let mut seen = Vec::new();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), stderr.next_line())
            .await
            .map_err(|_| anyhow::anyhow!("no sign-in URL within 30 s: {seen:#?}"))??
            .ok_or_else(|| anyhow::anyhow!("belay chat ended without a sign-in URL: {seen:#?}"))?;
        let trimmed = line.trim().to_owned();
        seen.push(line);
        if trimmed.starts_with("http") && trimmed.contains("/authorize") {
            break trimmed;
        }
    };
    let person = belay_client::FormAgent::new(user, password)?;
    let redirect = person.submit(&url).await?;
    anyhow::ensure!(
        redirect.contains("/callback?") && redirect.contains("code="),
        "the login form did not send the browser back with a code: {redirect}"
    );
    let landed = reqwest::get(&redirect).await?;
    anyhow::ensure!(landed.status().is_success(), "{}", landed.status());
    Ok(seen)
}

#[tokio::test]
async fn chat_signs_in_to_belay_up_and_answers_a_question_across_the_gateway() -> anyhow::Result<()>
{
    // The gateway speaks 2026-07-28, which belay chat prefers: the form's question comes as
    // an `input_required` round of the call, not as a request of the server's.
    converse_across_the_gateway("chat-up", None, "2026-07-28").await
}

#[tokio::test]
async fn chat_in_the_handshake_era_answers_the_same_question_across_the_gateway()
-> anyhow::Result<()> {
    // `initialize` although the gateway offers 2026-07-28: the same form now reaches the
    // person as the gateway's `elicitation/create` request (that era has no input_required
    // rounds), and its answers still reach the tool.
    converse_across_the_gateway("chat-up-handshake", Some("handshake"), "2025-11-25").await
}

/// Starts `belay up`, signs `belay chat` in to its gateway (in `protocol`'s era, or the
/// default) as a person at the login form, has the model call tools of two upstreams and ask
/// for investment advice, answers the advice form, and checks the transcript: the session
/// speaks `revision`, the calls succeeded, and the form's answers reached the tool.
async fn converse_across_the_gateway(
    name: &str,
    protocol: Option<&str>,
    revision: &str,
) -> anyhow::Result<()> {
    let data = fresh_dir(name)?;
    let state = data.join("state");
    let (mut up, info) = start_up(&state.to_string_lossy())?;
    let password = info["user"]["password"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("belay up printed no password: {info}"))?
        .to_owned();
    let gateway = info["gateway"]["url"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no gateway URL: {info}"))?
        .to_owned();
    wait_for_upstreams(&gateway, &password).await?;

    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![
            ("c1", "stock__get_stock_price", r#"{"symbol":"AAPL"}"#),
            ("c2", "weather__get_weather", r#"{"city":"Tokyo"}"#),
        ]),
        Reply::Calls(vec![(
            "c3",
            "stock__get_investment_advice",
            r#"{"symbol":"TSLA"}"#,
        )]),
        Reply::Text("AAPL is up, Tokyo is mild, and TSLA suits a careful investor."),
    ])
    .await?;
    let tokens = data.join("tokens");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_belay"));
    command
        .args(["chat", &gateway, "--no-browser", "--token-cache"])
        .arg(&tokens)
        .args(["--base-url", &model.base_url, "--json"])
        .args(
            protocol
                .map(|era| ["--protocol", era])
                .into_iter()
                .flatten(),
        )
        .env_remove("OPENAI_API_KEY")
        .env_remove("BELAY_CHAT_PROTOCOL")
        .env_remove("BELAY_CONFIG")
        .env("BELAY_DATA_DIR", data.join("chat"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut chat = command.spawn()?;
    let mut stderr = tokio::io::BufReader::new(
        chat.stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?,
    )
    .lines();
    let mut said = sign_in_when_asked(&mut stderr, "demo", &password).await?;
    // At the console (a --prompt run would not wait for the browser), the person asks, then
    // answers the gateway's form: answer it, low risk, 3 (long term); then leaves.
    if let Some(mut stdin) = chat.stdin.take() {
        stdin
            .write_all(b"AAPL, Tokyo's weather, and advice on TSLA\na\nlow\n3\n/quit\n")
            .await?;
    }
    let rest = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            lines.push(line);
        }
        lines
    });
    let output = tokio::time::timeout(Duration::from_secs(60), chat.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("belay chat did not finish within 60 s"))??;
    said.extend(rest.await?);
    let said = said.join("\n");
    assert!(output.status.success(), "{said}");
    assert!(said.contains("asks: "), "no form was shown: {said}");

    let transcript: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(
        transcript["protocols"]["127.0.0.1"], revision,
        "{transcript}"
    );
    let calls = &transcript["turns"][0]["tool_calls"];
    assert_eq!(calls[0]["is_error"], false, "{transcript}");
    assert!(
        calls[0]["result"]
            .as_str()
            .unwrap_or_default()
            .parse::<f64>()
            .is_ok(),
        "{transcript}"
    );
    assert!(
        calls[1]["result"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Tokyo"),
        "{transcript}"
    );
    let requests = model.requests();
    let advice = tool_messages(&requests[2]);
    assert!(
        advice
            .iter()
            .any(|(id, text)| id == "c3" && text.contains("low risk tolerance")),
        "the form's answers did not reach the tool: {advice:?}"
    );
    // Signed in once: the token is cached for the next run, which asks nobody.
    let cached = std::fs::read_dir(&tokens)?
        .filter_map(Result::ok)
        .any(|e| e.path().extension().is_some_and(|x| x == "json"));
    assert!(cached, "no token was cached in {}", tokens.display());

    terminate(&up.0);
    let _ = wait_with_timeout(&mut up.0, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// `belay up` answers before its upstreams are connected: waits until the gateway lists a
/// tool of each of the two upstreams the test uses.
async fn wait_for_upstreams(gateway: &str, password: &str) -> anyhow::Result<()> {
    let options = belay_client::SignInOptions {
        user_agent: std::sync::Arc::new(belay_client::FormAgent::new("demo", password)?),
        allow_private_addresses: true,
        ..belay_client::SignInOptions::default()
    };
    let client =
        belay_client::connect(gateway, options, (), rmcp::ClientLifecycleMode::Initialize).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tools = client.list_all_tools().await?;
        let has = |name: &str| tools.iter().any(|t| t.name == name);
        if has("stock__get_investment_advice") && has("weather__get_weather") {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the gateway never listed both upstreams' tools"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.cancel().await?;
    Ok(())
}

#[test]
fn a_prompt_run_that_needs_a_sign_in_fails_at_once_saying_how() -> anyhow::Result<()> {
    let data = fresh_dir("chat-up-unattended")?;
    let (mut up, info) = start_up(&data.join("state").to_string_lossy())?;
    let gateway = info["gateway"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let started = std::time::Instant::now();
    // No cached token, nobody at a browser.
    let output = belay()
        .args(["chat", &gateway, "--no-browser", "--token-cache"])
        .arg(data.join("empty-tokens"))
        .args(["--base-url", "http://127.0.0.1:9/v1", "--prompt", "hi"])
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("run `belay auth login {gateway}` first")),
        "{stderr}"
    );
    assert!(!stderr.contains("Sign in by opening"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    terminate(&up.0);
    let _ = wait_with_timeout(&mut up.0, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
