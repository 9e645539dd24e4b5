//! The conformance fixture through real rmcp clients. The official suite
//! (`tests/conformance/run`) is the real proof; these tests keep the parts Belay owns
//! (the `Ask` round trips, the listen broadcast, the exact fixture texts) from regressing
//! without Node.

use std::time::Duration;

use anyhow::Context as _;
use belay_servers::conformance::ConformanceServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse,
    ReadResourceRequestParams, ResourceContents, ServerNotification, SubscriptionFilter,
};
use serde_json::{Value, json};

use crate::common::{
    Client, Era, ScriptedClient, input_required, over_http, over_pipe, question_keys, text_of,
};

/// One answer for every form the fixture asks, so a single scripted person fits all.
fn person(era: Era) -> ScriptedClient {
    ScriptedClient::new(era).answering(json!({
        "name": "Alice",
        "color": "teal",
        "username": "testuser",
        "email": "test@example.com",
        "ok": true,
        "context": "testing",
    }))
}

async fn call(client: &Client, tool: &str, args: Value) -> anyhow::Result<CallToolResult> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(args) = args {
        params = params.with_arguments(args);
    }
    client
        .call_tool(params)
        .await
        .with_context(|| tool.to_owned())
}

#[tokio::test]
async fn tools_are_listed_first_text_first_with_schemas_untouched() -> anyhow::Result<()> {
    let client = over_pipe(ConformanceServer::new(), person(Era::Handshake)).await?;
    let tools = client.list_all_tools().await?;
    assert_eq!(
        tools.first().map(|t| t.name.as_ref()),
        Some("test_simple_text")
    );
    assert!(
        tools
            .iter()
            .all(|t| t.description.as_deref().is_some_and(|d| !d.is_empty()))
    );
    let schema = tools
        .iter()
        .find(|t| t.name == "json_schema_2020_12_tool")
        .map(|t| Value::Object(t.input_schema.as_ref().clone()))
        .context("2020-12 tool listed")?;
    assert_eq!(schema["$defs"]["address"]["$anchor"], "addressDef");
    assert_eq!(schema["else"], json!({"required": ["email"]}));
    assert_eq!(schema["additionalProperties"], false);
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn content_tools_return_each_kind_of_content() -> anyhow::Result<()> {
    for era in Era::BOTH {
        let client = over_pipe(ConformanceServer::new(), person(era)).await?;
        let simple = call(&client, "test_simple_text", Value::Null).await?;
        assert_eq!(
            text_of(&simple),
            "This is a simple text response for testing."
        );
        let audio = call(&client, "test_audio_content", Value::Null).await?;
        assert!(
            matches!(&audio.content[..], [ContentBlock::Audio(a)] if a.mime_type == "audio/wav")
        );
        let mixed = call(&client, "test_multiple_content_types", Value::Null).await?;
        let kinds: Vec<_> = mixed
            .content
            .iter()
            .map(|c| match c {
                ContentBlock::Text(_) => "text",
                ContentBlock::Image(_) => "image",
                ContentBlock::Resource(_) => "resource",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["text", "image", "resource"], "{era:?}");
        let failed = call(&client, "test_error_handling", Value::Null).await?;
        assert_eq!(failed.is_error, Some(true));
        let unknown = call(&client, "no_such_tool", Value::Null).await;
        assert!(
            unknown.is_err(),
            "{era:?}: an unknown tool is a protocol error"
        );
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn sampling_and_elicitation_work_in_both_eras_over_http() -> anyhow::Result<()> {
    for era in Era::BOTH {
        let asked = person(era);
        let (client, stop) = over_http(ConformanceServer::new(), asked.clone()).await?;
        let sampled = call(&client, "test_sampling", json!({"prompt": "Hi?"})).await?;
        assert_eq!(
            text_of(&sampled),
            "LLM response: Scripted headline",
            "{era:?}"
        );
        let message = "Please provide your information";
        let elicited = call(&client, "test_elicitation", json!({"message": message})).await?;
        let text = text_of(&elicited);
        assert!(
            text.starts_with("User response: action=accept"),
            "{era:?}: {text}"
        );
        assert!(text.contains("test@example.com"), "{era:?}: {text}");
        assert_eq!(asked.questions(), ["Hi?", message], "{era:?}");
        client.cancel().await?;
        stop.cancel();
    }
    Ok(())
}

#[tokio::test]
async fn independent_questions_come_in_one_round_and_state_is_sealed() -> anyhow::Result<()> {
    let client = over_pipe(ConformanceServer::new(), person(Era::RoundTrip)).await?;
    let tool = "test_input_required_result_multiple_inputs";
    let pending = input_required(&client, CallToolRequestParams::new(tool)).await?;
    // The scripted client declares no roots, so only two of the three questions are asked.
    assert_eq!(question_keys(&pending), ["greeting", "user_name"]);
    let done = text_of(&call(&client, tool, Value::Null).await?);
    // The scripted person fills every form alike; the form answer is echoed raw.
    assert!(done.starts_with("form: {"), "{done}");
    assert!(done.contains(r#""name":"Alice""#), "{done}");
    assert!(
        done.ends_with("; model: Scripted headline; The client offers no roots"),
        "{done}"
    );

    let mut forged = CallToolRequestParams::new("test_input_required_result_tampered_state");
    forged.request_state = Some("forged".into());
    assert!(client.call_tool_once(forged).await.is_err());
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn multi_round_asks_one_step_at_a_time() -> anyhow::Result<()> {
    for era in Era::BOTH {
        let asked = person(era);
        let client = over_pipe(ConformanceServer::new(), asked.clone()).await?;
        let done = call(
            &client,
            "test_input_required_result_multi_round",
            Value::Null,
        )
        .await?;
        assert_eq!(
            text_of(&done),
            "Hello, Alice! Your favorite color is teal.",
            "{era:?}"
        );
        assert_eq!(
            asked.questions(),
            [
                "Step 1: What is your name?",
                "Step 2: What is your favorite color?"
            ],
            "{era:?}"
        );
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_prompt_can_ask_first() -> anyhow::Result<()> {
    let client = over_pipe(ConformanceServer::new(), person(Era::RoundTrip)).await?;
    let params = GetPromptRequestParams::new("test_input_required_result_prompt");
    let first = client.get_prompt_once(params.clone()).await?;
    assert!(matches!(first, GetPromptResponse::InputRequired(_)));
    let prompt = client.get_prompt(params).await?;
    let text = serde_json::to_string(&prompt.messages)?;
    assert!(
        text.contains("Answer with this context in mind: testing"),
        "{text}"
    );
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn resources_read_and_unknown_ones_fail() -> anyhow::Result<()> {
    for era in Era::BOTH {
        let client = over_pipe(ConformanceServer::new(), person(era)).await?;
        let listed = client.list_all_resources().await?;
        assert_eq!(
            listed.first().map(|r| r.uri.as_str()),
            Some("test://static-text")
        );
        let read = client
            .read_resource(ReadResourceRequestParams::new("test://template/123/data"))
            .await?;
        let [ResourceContents::TextResourceContents { text, .. }] = &read.contents[..] else {
            anyhow::bail!("expected one text content, got {:?}", read.contents);
        };
        let data: Value = serde_json::from_str(text)?;
        assert_eq!(
            data,
            json!({"id": "123", "templateTest": true, "data": "Data for ID: 123"})
        );
        let missing = client
            .read_resource(ReadResourceRequestParams::new("test://missing"))
            .await;
        assert!(missing.is_err(), "{era:?}");
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn trigger_tools_reach_listeners_that_asked() -> anyhow::Result<()> {
    let server = ConformanceServer::new();
    let client = over_pipe(server.clone(), person(Era::RoundTrip)).await?;
    let filter = SubscriptionFilter::builder().tools_list_changed().build();
    let mut subscription = client.listen(filter).await?;
    assert_eq!(subscription.acknowledged().tools_list_changed, Some(true));
    // Another connection triggers: the broadcast is shared by every clone of the server.
    let other = over_pipe(server, person(Era::RoundTrip)).await?;
    call(&other, "test_trigger_prompt_change", Value::Null).await?;
    call(&other, "test_trigger_tool_change", Value::Null).await?;
    let next = tokio::time::timeout(Duration::from_secs(5), subscription.next()).await??;
    assert!(
        matches!(
            next,
            Some(ServerNotification::ToolListChangedNotification(_))
        ),
        "the prompt change was filtered out, the tool change came through: {next:?}"
    );
    other.cancel().await?;
    client.cancel().await?;
    Ok(())
}
