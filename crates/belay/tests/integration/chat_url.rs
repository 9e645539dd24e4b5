//! URL-mode elicitation in `belay chat`: the console shows the page a server needs the
//! person at, and once they agree, waits for the server's
//! `notifications/elicitation/complete` (the test visits the page as the person's browser
//! would); a page never done ends in a clear error after the configured wait.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::{
    chat::tool_messages,
    model_script::{Reply, ScriptedModel},
    support::*,
    url_fixture::UrlFixture,
};

/// What one run left, and the pages the person visited.
struct UrlRun {
    success: bool,
    stderr: String,
    visited: Vec<String>,
}

/// Runs `belay chat FIXTURE --json --prompt` (all the console says on stderr); the person types
/// `answers`, and visits the pages shown when `visit` is true.
async fn run_with_pages(
    fixture: &UrlFixture,
    model: &ScriptedModel,
    answers: &str,
    visit: bool,
    vars: &[(&str, &str)],
) -> anyhow::Result<UrlRun> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_belay"));
    command
        .args([
            "chat",
            &fixture.url,
            "--no-browser",
            "--base-url",
            &model.base_url,
        ])
        .args(["--json", "--prompt", "go"])
        .env_remove("OPENAI_API_KEY")
        .env_remove("BELAY_CONFIG")
        .envs(vars.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut chat = command.spawn()?;
    if let Some(mut stdin) = chat.stdin.take() {
        stdin.write_all(answers.as_bytes()).await?;
    }
    let mut lines = tokio::io::BufReader::new(
        chat.stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?,
    )
    .lines();
    let said_so_far = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = said_so_far.clone();
    let reading = async {
        let mut said = Vec::new();
        let mut visited = Vec::new();
        while let Some(line) = lines.next_line().await? {
            let shown = line.trim();
            if visit && shown.starts_with("http") && shown.contains("/page/") {
                let page = reqwest::get(shown).await?;
                anyhow::ensure!(page.status().is_success(), "{}", page.status());
                visited.push(shown.to_owned());
            }
            if let Ok(mut log) = log.lock() {
                log.push(line.clone());
            }
            said.push(line);
        }
        Ok::<_, anyhow::Error>((said.join("\n"), visited))
    };
    let ((stderr, visited), status) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::try_join!(reading, async { Ok(chat.wait().await?) })
    })
    .await
    .map_err(|_| {
        let said = said_so_far.lock().map(|s| s.join("\n")).unwrap_or_default();
        anyhow::anyhow!("belay chat did not finish within 60 s:\n{said}")
    })??;
    Ok(UrlRun {
        success: status.success(),
        stderr,
        visited,
    })
}

fn calls(tool: &'static str) -> Vec<Reply> {
    vec![Reply::Calls(vec![("c1", tool, "{}")]), Reply::Text("done")]
}

#[tokio::test]
async fn a_page_the_server_requires_is_visited_then_the_call_is_made_again() -> anyhow::Result<()> {
    let fixture = UrlFixture::start().await?;
    let model = ScriptedModel::start(calls("link_account")).await?;
    let run = run_with_pages(&fixture, &model, "y\n", true, &[]).await?;
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.visited.len(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("Link your brokerage account"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("says the page is done"),
        "{}",
        run.stderr
    );
    let results = tool_messages(&model.requests()[1]);
    assert_eq!(results[0].1, "account linked", "{results:?}");
    Ok(())
}

#[tokio::test]
async fn a_page_asked_for_during_a_call_is_shown_and_its_notice_awaited() -> anyhow::Result<()> {
    let fixture = UrlFixture::start().await?;
    let model = ScriptedModel::start(calls("confirm_payment")).await?;
    let run = run_with_pages(&fixture, &model, "y\n", true, &[]).await?;
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stderr.contains("Confirm the payment of $20"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("says the page is done"),
        "{}",
        run.stderr
    );
    let results = tool_messages(&model.requests()[1]);
    assert_eq!(results[0].1, "payment confirmed", "{results:?}");
    Ok(())
}

#[tokio::test]
async fn a_page_declined_or_never_done_is_an_error_for_the_model() -> anyhow::Result<()> {
    // The person says no: nothing is waited for.
    let fixture = UrlFixture::start().await?;
    let model = ScriptedModel::start(calls("link_account")).await?;
    let run = run_with_pages(&fixture, &model, "n\n", false, &[]).await?;
    assert!(run.success, "{}", run.stderr);
    let results = tool_messages(&model.requests()[1]);
    assert!(
        results[0]
            .1
            .contains("the person declined to open the page"),
        "{results:?}"
    );

    // The person agrees but the page is never done: the wait ends at the configured time.
    let model = ScriptedModel::start(calls("link_account")).await?;
    let started = std::time::Instant::now();
    let run = run_with_pages(
        &fixture,
        &model,
        "y\n",
        false,
        &[("BELAY_CHAT__URL_WAIT_SECS", "1")],
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    assert!(run.stderr.contains("at most 1 s"), "{}", run.stderr);
    let results = tool_messages(&model.requests()[1]);
    assert!(
        results[0]
            .1
            .contains("did not say the page was done within 1 s"),
        "{results:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    Ok(())
}
