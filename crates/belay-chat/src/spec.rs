//! The `[chat]` table of `belay.toml`: which model `belay chat` talks to and how.
//!
//! Every key can also be set by `BELAY_CHAT__<KEY>` (the workspace's env override rule) and
//! by `belay chat`'s flags, which win. The API key itself is never written in the file: it
//! is read from the variable `api_key_env` names.

use belay_client::ProtocolEra;
use serde::Deserialize;

/// Which kind of endpoint serves the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Any OpenAI-compatible chat-completions endpoint: OpenAI, Ollama
    /// (`http://127.0.0.1:11434/v1`), vLLM, llama.cpp's server, LM Studio.
    Openai,
    /// Azure OpenAI: a resource endpoint, a deployment and an API version.
    Azure,
    /// Anthropic's Messages API (`https://api.anthropic.com`, `ANTHROPIC_API_KEY`).
    Anthropic,
}

impl std::str::FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "openai" => Ok(Self::Openai),
            "azure" => Ok(Self::Azure),
            "anthropic" => Ok(Self::Anthropic),
            other => Err(format!(
                "unknown provider `{other}`: use `openai` (any OpenAI-compatible endpoint), `azure` or `anthropic`"
            )),
        }
    }
}

/// `[chat]`: the model `belay chat` uses. Unset keys fall back to the provider's usual
/// environment variables (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `AZURE_OPENAI_ENDPOINT`,
/// `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_API_VERSION`, `AZURE_OPENAI_DEPLOYMENT`,
/// `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatSpec {
    /// `openai`, `azure` or `anthropic`. Unset: Azure when `AZURE_OPENAI_ENDPOINT` is set and no
    /// `base_url` is, else OpenAI-compatible.
    pub provider: Option<Provider>,
    /// The endpoint: an OpenAI-compatible base URL ending in `/v1`, or the Azure resource's
    /// endpoint (`https://NAME.openai.azure.com`), or Anthropic's (`https://api.anthropic.com`,
    /// without `/v1`).
    pub base_url: Option<String>,
    /// The model (OpenAI-compatible) or the deployment (Azure).
    pub model: Option<String>,
    /// Azure's `api-version` query parameter (default `2024-10-21`).
    pub api_version: Option<String>,
    /// Name of the environment variable holding the API key (default `OPENAI_API_KEY`, or
    /// `AZURE_OPENAI_API_KEY` for Azure, `ANTHROPIC_API_KEY` for Anthropic).
    pub api_key_env: Option<String>,
    /// Stream answers as they are written (default true); false for endpoints that cannot.
    pub stream: Option<bool>,
    /// The most model requests one turn may make while the model keeps calling tools
    /// (default 10).
    pub max_rounds: Option<u32>,
    /// A system prompt put first in every conversation.
    pub system_prompt: Option<String>,
    /// Answer servers' sampling requests without asking the person first (default false).
    pub approve_sampling: bool,
    /// Models the endpoint serves that a server's sampling request may pick with its
    /// `modelPreferences` (hints by name, else its cost, speed and intelligence
    /// priorities), ordered from the cheapest and fastest to the most capable. Empty (the
    /// default): the configured model answers every request.
    pub sampling_models: Vec<String>,
    /// How long to wait, in seconds, for a server to say a page it sent the person to
    /// (URL-mode elicitation) is done (default 600).
    pub url_wait_secs: Option<u64>,
    /// The protocol era sessions open in: `auto` (default: 2026-07-28 where the server
    /// offers it, else the `initialize` handshake), `handshake` or `2026-07-28`.
    pub protocol: Option<ProtocolEra>,
}
