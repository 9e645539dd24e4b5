//! `Ask::all` batches independent questions into one round trip, `elicit_with` takes a
//! hand-written form, and `respond` finishes a `prompts/get` that asked.

use belay_mcp::{
    Ask, Elicited, Suspend,
    interaction::{Answer, Question, respond},
    testkit::{Era, ScriptedClient, input_required, over_pipe, question_keys, text_of},
};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        CreateMessageRequestParams, ElicitationSchema, GetPromptRequestParams, GetPromptResponse,
        GetPromptResult, PromptMessage, Role, SamplingMessage, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
};
use serde_json::json;

/// Asks a form, the model and the roots at once (`batch`), or a form for a prompt.
#[derive(Debug, Clone)]
struct Batch;

fn form() -> Result<ElicitationSchema, ErrorData> {
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
    serde_json::from_value(schema).map_err(|e| ErrorData::internal_error(e.to_string(), None))
}

async fn batch(ask: &Ask) -> Result<CallToolResult, Suspend> {
    let params = CreateMessageRequestParams::new(vec![SamplingMessage::user_text("Hi")], 10);
    let answers = ask
        .all(vec![
            Question::form("who", "Who are you?", form()?),
            Question::sample("line", params),
            Question::roots("roots"),
        ])
        .await?;
    let parts: Vec<String> = answers
        .iter()
        .map(|a| match a {
            Answer::Form(Elicited::Accepted(v)) => v["name"].to_string(),
            Answer::Sample(Some(r)) => format!(
                "{:?}",
                r.message
                    .content
                    .first()
                    .and_then(|c| c.as_text())
                    .map(|t| &t.text)
            ),
            Answer::Roots(None) => "no roots".to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    Ok(CallToolResult::success(vec![ContentBlock::text(
        parts.join("; "),
    )]))
}

async fn prompt(ask: &Ask) -> Result<GetPromptResult, Suspend> {
    let name = match ask
        .elicit_with::<serde_json::Value>("who", "Who?", form()?)
        .await?
    {
        Elicited::Accepted(v) => v["name"].to_string(),
        _ => "nobody".to_owned(),
    };
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(
        Role::User,
        name,
    )]))
}

impl ServerHandler for Batch {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .build(),
        )
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let ask = Ask::new(
            context,
            request.request_state.as_deref(),
            request.input_responses,
        )?;
        respond(batch(&ask).await)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let ask = Ask::new(
            context,
            request.request_state.as_deref(),
            request.input_responses,
        )?;
        respond(prompt(&ask).await)
    }
}

fn person(era: Era) -> ScriptedClient {
    ScriptedClient::new(era).answering(json!({"name": "Ada"}))
}

#[tokio::test]
async fn both_eras_get_the_same_answers() -> anyhow::Result<()> {
    for era in Era::BOTH {
        let asked = person(era);
        let client = over_pipe(Batch, asked.clone()).await?;
        let result = client
            .call_tool(CallToolRequestParams::new("batch"))
            .await?;
        // The scripted client declares no roots capability, so roots are not asked.
        assert_eq!(
            text_of(&result),
            r#""Ada"; Some("Scripted headline"); no roots"#,
            "{era:?}"
        );
        // Each asked once; a round-trip client answers a batch in key order.
        let mut questions = asked.questions();
        questions.sort();
        assert_eq!(questions, ["Hi", "Who are you?"], "{era:?}");
        let prompt = client.get_prompt(GetPromptRequestParams::new("p")).await?;
        assert_eq!(
            serde_json::to_value(&prompt.messages)?[0]["content"]["text"],
            r#""Ada""#
        );
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_round_trip_client_gets_every_question_in_one_round() -> anyhow::Result<()> {
    let client = over_pipe(Batch, person(Era::RoundTrip)).await?;
    let pending = input_required(&client, CallToolRequestParams::new("batch")).await?;
    assert_eq!(question_keys(&pending), ["line", "who"]);

    // Half the answers: only the missing question is asked again, with sealed state.
    let mut retry = CallToolRequestParams::new("batch");
    retry.request_state = pending.request_state;
    retry.input_responses = Some([("who".to_owned(), json!({"action": "decline"}))].into());
    let pending = input_required(&client, retry).await?;
    assert_eq!(question_keys(&pending), ["line"]);

    // An answer of the wrong shape is a -32602 naming its key, not a silent re-ask.
    let mut malformed = CallToolRequestParams::new("batch");
    malformed.input_responses = Some([("line".to_owned(), json!(12345))].into());
    let err = client
        .call_tool_once(malformed)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("`line`")),
        "{err:?}"
    );
    client.cancel().await?;
    Ok(())
}
