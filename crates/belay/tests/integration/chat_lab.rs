//! `belay chat` in front of the xpia lab behind the gateway with `belay up`'s guards: the
//! e-mail carrying an injected order reaches the model spotlighted as untrusted data, and
//! the person is told so on the screen, rather than the console passing it on silently.

use crate::{
    chat::{chat, tool_messages},
    lab::{RECOMMENDED, gateway_with_upstreams_up},
    model_script::{Reply, ScriptedModel},
    support::*,
};

#[tokio::test]
async fn the_person_sees_the_guards_mark_on_an_injected_result() -> anyhow::Result<()> {
    let dir = fresh_dir("chat-lab-xpia")?;
    let config = dir.join("belay.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\n[[gateway.upstream]]\nname = \"docs\"\n\
             transport = {{ type = \"stdio\", command = \"{}\", args = [\"lab\", \"run\", \"xpia\"] }}\n\
             [gateway.guard]\n{RECOMMENDED}\n",
            env!("CARGO_BIN_EXE_belay")
        ),
    )?;
    let (mut gateway, url) = gateway_with_upstreams_up(&config, &dir.join("data"))?;
    let endpoint = url.replace("/mcp", "/servers/docs/mcp");
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![(
            "call_1",
            "fetch_document",
            r#"{"name":"northwind-email"}"#,
        )]),
        Reply::Text("Priya asks for the November invoice to be paid."),
    ])
    .await?;
    let run = chat(
        &[
            &endpoint,
            "--base-url",
            &model.base_url,
            "--json",
            "--prompt",
            "Summarise the e-mail from Northwind",
        ],
        "",
    )
    .await?;
    terminate(&gateway.0);
    let _ = wait_with_timeout(&mut gateway.0, Duration::from_secs(10));
    assert!(run.success, "{}", run.stderr);
    // The person is told, on the screen, what the gateway did.
    assert!(
        run.stderr
            .contains("the gateway marked this result as untrusted data"),
        "{}",
        run.stderr
    );
    // The model got the e-mail spotlighted, and the console called nothing on its own.
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    let results = tool_messages(&requests[1]);
    assert_eq!(results.len(), 1);
    assert!(results[0].1.contains("<<untrusted-"), "{}", results[0].1);
    let calls = run.transcript()?["turns"][0]["tool_calls"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(calls, 1, "only the model's own call ran");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
