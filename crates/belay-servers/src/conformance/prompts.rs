//! The fixture prompts and argument completion. One prompt asks the client for input
//! first (SEP-2322 allows that on `prompts/get` too), through the same [`Ask`] as tools.

use belay_mcp::{Ask, Elicited, interaction::respond};
use rmcp::{
    ErrorData, RoleServer,
    model::{
        ArgumentInfo, CompleteRequestParams, CompleteResult, CompletionInfo, ContentBlock,
        GetPromptRequestParams, GetPromptResponse, GetPromptResult, ImageContent, Prompt,
        PromptArgument, PromptMessage, Reference, Role,
    },
    service::RequestContext,
};
use serde::Deserialize;

use super::{schemas, tools::PNG};

const WITH_ARGUMENTS: &str = "test_prompt_with_arguments";

pub(super) fn prompts() -> Vec<Prompt> {
    let required = |name: &str, description: &str| {
        PromptArgument::new(name)
            .with_description(description)
            .with_required(true)
    };
    vec![
        Prompt::new(
            "test_simple_prompt",
            Some("A prompt without arguments"),
            None,
        ),
        Prompt::new(
            WITH_ARGUMENTS,
            Some("A prompt that quotes its two arguments"),
            Some(vec![
                required("arg1", "First argument"),
                required("arg2", "Second argument"),
            ]),
        ),
        Prompt::new(
            "test_prompt_with_embedded_resource",
            Some("A prompt that embeds a resource"),
            Some(vec![required(
                "resourceUri",
                "URI of the resource to embed",
            )]),
        ),
        Prompt::new(
            "test_prompt_with_image",
            Some("A prompt that includes an image"),
            None,
        ),
        Prompt::new(
            "test_input_required_result_prompt",
            Some("A prompt that first asks the client for context"),
            None,
        ),
    ]
}

pub(super) async fn get(
    request: GetPromptRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<GetPromptResponse, ErrorData> {
    let argument = |name: &str| -> Result<String, ErrorData> {
        request
            .arguments
            .as_ref()
            .and_then(|a| a.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                ErrorData::invalid_params(format!("argument `{name}` is required"), None)
            })
    };
    let messages = match request.name.as_str() {
        "test_simple_prompt" => vec![PromptMessage::new_text(
            Role::User,
            "This is a simple prompt for testing.",
        )],
        WITH_ARGUMENTS => vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Prompt with arguments: arg1='{}', arg2='{}'",
                argument("arg1")?,
                argument("arg2")?
            ),
        )],
        "test_prompt_with_embedded_resource" => vec![
            PromptMessage::new_resource(
                Role::User,
                argument("resourceUri")?,
                Some("text/plain".into()),
                Some("Embedded resource content for testing.".into()),
                None,
                None,
                None,
            ),
            PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
        ],
        "test_prompt_with_image" => vec![
            PromptMessage::new(
                Role::User,
                ContentBlock::Image(ImageContent::new(PNG, "image/png")),
            ),
            PromptMessage::new_text(Role::User, "Please analyze the image above."),
        ],
        "test_input_required_result_prompt" => {
            let ask = Ask::new(
                context,
                request.request_state.as_deref(),
                request.input_responses,
            )?;
            return respond(asked_context(&ask).await);
        }
        other => {
            return Err(ErrorData::invalid_params(
                format!("unknown prompt `{other}`"),
                None,
            ));
        }
    };
    Ok(GetPromptResult::new(messages).into())
}

#[derive(Debug, Deserialize)]
struct Context {
    context: String,
}

async fn asked_context(ask: &Ask) -> Result<GetPromptResult, belay_mcp::Suspend> {
    let form = schemas::single_field("context", "string")?;
    let answer = ask
        .elicit_with::<Context>("user_context", "What context should the prompt use?", form)
        .await?;
    let context = match answer {
        Elicited::Accepted(Context { context }) => context,
        _ => "no particular context".to_owned(),
    };
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(
        Role::User,
        format!("Answer with this context in mind: {context}"),
    )]))
}

/// Completes `arg1`/`arg2` of the argument prompt from a few fixed values; anything else
/// has no suggestions (an empty list, not an error).
pub(super) fn complete(request: &CompleteRequestParams) -> Result<CompleteResult, ErrorData> {
    const VALUES: [&str; 4] = ["test", "testValue1", "testValue2", "example"];
    let ArgumentInfo { name, value, .. } = &request.argument;
    let ours = matches!(&request.r#ref, Reference::Prompt(p) if p.name == WITH_ARGUMENTS)
        && matches!(name.as_str(), "arg1" | "arg2");
    let values = if ours {
        VALUES
            .iter()
            .filter(|v| v.starts_with(value.as_str()))
            .map(|v| (*v).to_owned())
            .collect()
    } else {
        Vec::new()
    };
    let info = CompletionInfo::new(values).map_err(|e| ErrorData::internal_error(e, None))?;
    Ok(CompleteResult::new(info))
}
