//! `belay chat --provider anthropic` end to end: the built binary, the real `belay serve
//! stock` server it starts, and a scripted Anthropic Messages endpoint on loopback.

use crate::{
    anthropic_script::{Received, Reply, ScriptedAnthropic},
    chat::{assert_price_lookup, chat_with},
};

/// The `tool_result` blocks of `request`, as (tool_use_id, content).
fn tool_results(request: &Received) -> Vec<(String, String)> {
    request.body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "user")
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|block| block["type"] == "tool_result")
        .map(|block| {
            (
                block["tool_use_id"].as_str().unwrap_or_default().to_owned(),
                block["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn price_lookup() -> Vec<Reply> {
    vec![
        Reply::Calls(
            "Let me look. ",
            vec![("toolu_01", "get_stock_price", r#"{"symbol":"AAPL"}"#)],
        ),
        Reply::Text("AAPL closed at $150.25 on 2023-11-17."),
    ]
}

async fn price_turn(model: &ScriptedAnthropic, extra: &[&str]) -> anyhow::Result<()> {
    let mut args = vec![
        "stock",
        "--provider",
        "anthropic",
        "--base-url",
        &model.base_url,
        "--model",
        "claude-test",
        "--json",
        "--prompt",
        "What is Apple's price?",
    ];
    args.extend_from_slice(extra);
    let run = chat_with(&args, "", &[("ANTHROPIC_API_KEY", "sk-ant-test")]).await?;
    assert_price_lookup(&run)?;

    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.api_key.as_deref(), Some("sk-ant-test"));
        assert_eq!(request.version.as_deref(), Some("2023-06-01"));
        assert_eq!(request.body["model"], "claude-test");
        assert_eq!(request.body["max_tokens"], 4096);
    }
    let first = &requests[0].body;
    let tool = first["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == "get_stock_price")
        .cloned()
        .unwrap_or_default();
    assert_eq!(tool["input_schema"]["type"], "object", "{first}");
    assert!(tool["description"].is_string(), "{tool}");
    assert_eq!(
        first["messages"][0],
        serde_json::json!({"role": "user",
            "content": [{"type": "text", "text": "What is Apple's price?"}]})
    );
    // The second request carries the assistant's tool_use (input put together from the
    // streamed fragments, or taken whole) and the tool's result in a user message.
    let second = &requests[1];
    let assistant = &second.body["messages"][1];
    assert_eq!(assistant["role"], "assistant", "{}", second.body);
    assert_eq!(assistant["content"][0]["text"], "Let me look. ");
    assert_eq!(assistant["content"][1]["type"], "tool_use");
    assert_eq!(assistant["content"][1]["id"], "toolu_01");
    assert_eq!(
        assistant["content"][1]["input"],
        serde_json::json!({"symbol": "AAPL"})
    );
    assert_eq!(
        tool_results(second),
        [("toolu_01".to_owned(), "150.25".to_owned())]
    );
    Ok(())
}

#[tokio::test]
async fn a_price_lookup_streamed_through_anthropic() -> anyhow::Result<()> {
    let model = ScriptedAnthropic::start(price_lookup()).await?;
    price_turn(&model, &[]).await?;
    assert!(
        model
            .requests()
            .iter()
            .all(|r| r.body["stream"] == serde_json::json!(true))
    );
    Ok(())
}

#[tokio::test]
async fn a_price_lookup_not_streamed_through_anthropic() -> anyhow::Result<()> {
    let model = ScriptedAnthropic::start(price_lookup()).await?;
    price_turn(&model, &["--no-stream"]).await?;
    assert!(
        model
            .requests()
            .iter()
            .all(|r| r.body.get("stream").is_none())
    );
    Ok(())
}

#[tokio::test]
async fn anthropic_errors_are_said_not_panicked() -> anyhow::Result<()> {
    // An HTTP error with the API's error body, and an error event in the middle of a stream.
    for (reply, expected) in [
        (
            Reply::HttpError(401, "authentication_error", "invalid x-api-key"),
            "HTTP 401: authentication_error: invalid x-api-key (check the API key)",
        ),
        (
            Reply::StreamError("overloaded_error", "Overloaded"),
            "overloaded_error: Overloaded",
        ),
    ] {
        let model = ScriptedAnthropic::start(vec![reply]).await?;
        let run = chat_with(
            &[
                "stock",
                "--provider",
                "anthropic",
                "--base-url",
                &model.base_url,
                "--prompt",
                "hi",
            ],
            "",
            &[],
        )
        .await?;
        assert!(!run.success);
        assert!(run.stderr.contains(expected), "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        // No key configured: none is sent.
        assert_eq!(model.requests()[0].api_key, None);
    }
    Ok(())
}
