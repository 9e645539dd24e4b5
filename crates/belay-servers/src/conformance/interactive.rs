//! Tools that need the client: sampling, elicitation, roots, and the SEP-2322 multi
//! round-trip tools. All of them ask through [`Ask`], so one body serves both eras: a
//! handshake-era client gets server-to-client requests, a 2026-07-28 client gets
//! `input_required` results whose keys are the ones the suite expects.

// Sampling and roots are deprecated by SEP-2577 yet part of every revision the suite tests.
#![allow(deprecated)]

use belay_mcp::{
    Ask, Elicited, Suspend,
    interaction::{Answer, Question, respond},
};
use rmcp::{
    ErrorData, RoleServer,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        CreateMessageRequestParams, CreateMessageResult, JsonObject, ListRootsResult,
        SamplingMessage, Tool,
    },
    service::RequestContext,
};
use serde::Deserialize;
use serde_json::Value;

use super::{schemas, tools::text};

/// The tools of this module, by what they do.
#[derive(Debug, Clone, Copy)]
enum Interaction {
    Sampling,
    Elicitation,
    Defaults,
    Enums,
    Name,
    Capital,
    Roots,
    Confirm,
    AllAtOnce,
    TwoSteps,
    WhatTheClientCan,
}

const MRTR: &str = "test_input_required_result_";

pub(super) fn catalogue() -> Vec<Tool> {
    let none = schemas::no_arguments;
    let mrtr = |suffix: &str, description: &str| {
        Tool::new(format!("{MRTR}{suffix}"), description.to_owned(), none())
    };
    vec![
        Tool::new(
            "test_sampling",
            "Asks the client's model to answer a prompt.",
            schemas::one_string("prompt", "The prompt to send to the model"),
        ),
        Tool::new(
            "test_elicitation",
            "Asks the person for a username and an email address.",
            schemas::one_string("message", "The message to show the person"),
        ),
        Tool::new(
            "test_elicitation_sep1034_defaults",
            "Asks for a form whose every field has a default (SEP-1034).",
            none(),
        ),
        Tool::new(
            "test_elicitation_sep1330_enums",
            "Asks for a form with every enum style (SEP-1330).",
            none(),
        ),
        mrtr("elicitation", "Asks the person's name, then greets them."),
        mrtr("sampling", "Asks the model for the capital of France."),
        mrtr("list_roots", "Asks the client for its roots."),
        mrtr(
            "request_state",
            "Asks for a confirmation carried in requestState.",
        ),
        mrtr(
            "multiple_inputs",
            "Asks for a name, a greeting and the roots in one round.",
        ),
        mrtr(
            "multi_round",
            "Asks a name, then a favorite color, in two rounds.",
        ),
        mrtr(
            "tampered_state",
            "Asks for a confirmation; refuses a forged requestState.",
        ),
        mrtr(
            "capabilities",
            "Asks only what the client declared it can answer.",
        ),
    ]
}

/// Runs the tool `request` names, or returns `None` if it is not one of these.
pub(super) async fn call(
    request: CallToolRequestParams,
    context: RequestContext<RoleServer>,
) -> Option<Result<CallToolResponse, ErrorData>> {
    let interaction = match request.name.as_ref() {
        "test_sampling" => Interaction::Sampling,
        "test_elicitation" => Interaction::Elicitation,
        "test_elicitation_sep1034_defaults" => Interaction::Defaults,
        "test_elicitation_sep1330_enums" => Interaction::Enums,
        name => match name.strip_prefix(MRTR)? {
            "elicitation" => Interaction::Name,
            "sampling" => Interaction::Capital,
            "list_roots" => Interaction::Roots,
            "request_state" | "tampered_state" => Interaction::Confirm,
            "multiple_inputs" => Interaction::AllAtOnce,
            "multi_round" => Interaction::TwoSteps,
            "capabilities" => Interaction::WhatTheClientCan,
            _ => return None,
        },
    };
    let ask = match Ask::new(
        context,
        request.request_state.as_deref(),
        request.input_responses,
    ) {
        Ok(ask) => ask,
        Err(e) => return Some(Err(e)),
    };
    let arguments = request.arguments.unwrap_or_default();
    Some(respond(run(interaction, &ask, &arguments).await))
}

async fn run(
    interaction: Interaction,
    ask: &Ask,
    arguments: &JsonObject,
) -> Result<CallToolResult, Suspend> {
    match interaction {
        Interaction::Sampling => {
            let Some(prompt) = arguments.get("prompt").and_then(Value::as_str) else {
                return Ok(tool_error("argument `prompt` (a string) is required"));
            };
            Ok(
                match ask.sample("response", prompt_params(prompt, 100)).await? {
                    Some(reply) => text(format!("LLM response: {}", reply_text(&reply))),
                    None => tool_error("this tool needs a client that can sample"),
                },
            )
        }
        Interaction::Elicitation => {
            let Some(message) = arguments.get("message").and_then(Value::as_str) else {
                return Ok(tool_error("argument `message` (a string) is required"));
            };
            let form = schemas::contact_form()?;
            report(ask.elicit_with("contact", message, form).await?)
        }
        Interaction::Defaults => {
            let form = schemas::defaults_form()?;
            let message = "Please review the defaults and adjust what you like";
            report(ask.elicit_with("defaults", message, form).await?)
        }
        Interaction::Enums => {
            let form = schemas::enums_form()?;
            report(
                ask.elicit_with("enums", "Pick an option of each kind", form)
                    .await?,
            )
        }
        Interaction::Name => Ok(text(
            match name(ask, "user_name", "What is your name?").await? {
                Some(name) => format!("Hello, {name}!"),
                None => "Hello, stranger!".to_owned(),
            },
        )),
        Interaction::Capital => {
            let params = prompt_params("What is the capital of France?", 100);
            Ok(match ask.sample("capital_question", params).await? {
                Some(reply) => text(format!("The model says: {}", reply_text(&reply))),
                None => tool_error("this tool needs a client that can sample"),
            })
        }
        Interaction::Roots => Ok(text(describe_roots(
            ask.list_roots("client_roots").await?.as_ref(),
        ))),
        Interaction::Confirm => {
            let form = schemas::single_field("ok", "boolean")?;
            let answer = ask.elicit_with::<Confirmation>("confirm", "Please confirm", form);
            Ok(text(match answer.await? {
                Elicited::Accepted(Confirmation { ok: true }) => "state-ok: confirmed",
                Elicited::Accepted(Confirmation { ok: false }) => "state-ok: not confirmed",
                _ => "state-ok: no answer",
            }))
        }
        Interaction::AllAtOnce => {
            let answers = ask
                .all(vec![
                    name_question()?,
                    Question::sample("greeting", prompt_params("Generate a greeting", 50)),
                    Question::roots("client_roots"),
                ])
                .await?;
            Ok(text(describe_all(&answers)))
        }
        Interaction::TwoSteps => {
            let who = name(ask, "step1", "Step 1: What is your name?").await?;
            let form = schemas::single_field("color", "string")?;
            let color = match ask
                .elicit_with::<Color>("step2", "Step 2: What is your favorite color?", form)
                .await?
            {
                Elicited::Accepted(Color { color }) => color,
                _ => "unknown".to_owned(),
            };
            let who = who.unwrap_or_else(|| "stranger".to_owned());
            Ok(text(format!(
                "Hello, {who}! Your favorite color is {color}."
            )))
        }
        Interaction::WhatTheClientCan => {
            // Only what the client declared is asked: a client without elicitation gets
            // no form, one without sampling no sampling request.
            let answers = ask
                .all(vec![
                    name_question()?,
                    Question::sample("greeting", prompt_params("Say hello", 20)),
                ])
                .await?;
            Ok(text(describe_all(&answers)))
        }
    }
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Confirmation {
    ok: bool,
}

#[derive(Debug, Deserialize)]
struct Color {
    color: String,
}

/// Asks for a name; `None` when the person gave none.
async fn name(ask: &Ask, key: &str, message: &str) -> Result<Option<String>, Suspend> {
    let form = schemas::single_field("name", "string")?;
    Ok(match ask.elicit_with::<Named>(key, message, form).await? {
        Elicited::Accepted(Named { name }) => Some(name),
        _ => None,
    })
}

fn prompt_params(prompt: &str, max_tokens: u32) -> CreateMessageRequestParams {
    CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], max_tokens)
}

fn reply_text(reply: &CreateMessageResult) -> String {
    reply
        .message
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// The elicitation tools report what came back, as the reference server does.
fn report(answer: Elicited<Value>) -> Result<CallToolResult, Suspend> {
    Ok(match answer {
        Elicited::Accepted(content) => {
            text(format!("User response: action=accept, content={content}"))
        }
        Elicited::Declined => text("User response: action=decline"),
        Elicited::Cancelled => text("User response: action=cancel"),
        Elicited::Unsupported => tool_error("this tool needs a client that can show forms"),
    })
}

fn describe_roots(roots: Option<&ListRootsResult>) -> String {
    match roots {
        Some(list) => {
            let uris: Vec<&str> = list.roots.iter().map(|r| r.uri.as_str()).collect();
            format!("Roots: {}", uris.join(", "))
        }
        None => "The client offers no roots".to_owned(),
    }
}

fn describe_all(answers: &[Answer]) -> String {
    let parts: Vec<String> = answers
        .iter()
        .map(|answer| match answer {
            Answer::Form(Elicited::Accepted(content)) => format!("form: {content}"),
            Answer::Form(Elicited::Unsupported) => "form: not supported".to_owned(),
            Answer::Form(_) => "form: no answer".to_owned(),
            Answer::Sample(Some(reply)) => format!("model: {}", reply_text(reply)),
            Answer::Sample(None) => "model: not supported".to_owned(),
            Answer::Roots(roots) => describe_roots(roots.as_ref()),
        })
        .collect();
    parts.join("; ")
}

fn tool_error(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// The name form both multi-question tools start with.
fn name_question() -> Result<Question, ErrorData> {
    Ok(Question::form(
        "user_name",
        "What is your name?",
        schemas::single_field("name", "string")?,
    ))
}
