//! `belay chat TARGET… [-- COMMAND ARGS…]`: a console where a language model drives MCP
//! servers and the person stays in control. This file reads the command line and
//! `belay.toml`'s `[chat]`; everything else is `belay-chat`.

use std::{io::BufRead, path::PathBuf, time::Duration};

use anyhow::Context;
use belay_chat::{
    ChatOptions, Outcome, Target,
    connect::ConnectOptions,
    mcp_json::{InputSpec, McpJson},
    settings::{DEFAULT_MAX_ROUNDS, ModelFlags, ModelSettings, protocol_era},
    spec::Provider,
    target::unique_names,
};
use belay_client::{ProtocolEra, TokenCache};
use clap::Args;

use crate::config::BelayConfig;

/// Arguments of `belay chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Servers to connect to: a reference server (`stock`, `weather`, `matheval`, `news`,
    /// `whoami`), an http(s):// URL (Streamable HTTP; legacy SSE for …/sse), or a server
    /// named in --mcp-config.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// A stdio server to start: everything after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// An mcp.json file (VS Code `servers`, Claude Desktop or Cursor `mcpServers`) whose
    /// servers TARGET may name; with no TARGET, all of them.
    #[arg(long, value_name = "FILE")]
    pub mcp_config: Option<PathBuf>,
    /// `openai` (any OpenAI-compatible endpoint), `azure`, or `anthropic` (Messages API).
    #[arg(long)]
    pub provider: Option<Provider>,
    /// The model endpoint, e.g. http://127.0.0.1:11434/v1 for Ollama (default:
    /// OPENAI_BASE_URL, or OpenAI's; https://api.anthropic.com for `anthropic`).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The model (the deployment for Azure).
    #[arg(long)]
    pub model: Option<String>,
    /// The API key (better: OPENAI_API_KEY, AZURE_OPENAI_API_KEY or ANTHROPIC_API_KEY, kept
    /// out of the shell history).
    #[arg(long, hide_env_values = true)]
    pub api_key: Option<String>,
    /// Ask for whole answers instead of streamed ones.
    #[arg(long)]
    pub no_stream: bool,
    /// The most model requests one turn may make while the model calls tools.
    #[arg(long, value_name = "N")]
    pub max_rounds: Option<u32>,
    /// Answer servers' sampling requests with the model without asking first.
    #[arg(long)]
    pub approve_sampling: bool,
    /// A model the endpoint serves that a server's sampling request may pick by its
    /// `modelPreferences`; repeatable, cheapest first (default: `[chat] sampling_models`;
    /// none: the configured model answers every request).
    #[arg(long = "sampling-model", value_name = "MODEL")]
    pub sampling_models: Vec<String>,
    /// Run one turn with this text, print the answer and exit (status 0 when the turn
    /// completed).
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Write the transcript (messages, tool calls, results, timings) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The protocol era: `auto` (2026-07-28 where the server offers it, else the
    /// `initialize` handshake), `handshake` (always `initialize`) or `2026-07-28` (only;
    /// an error where the server does not offer it). Default: BELAY_CHAT_PROTOCOL,
    /// [chat] protocol, then `auto`.
    #[arg(long, value_name = "ERA")]
    pub protocol: Option<ProtocolEra>,
    /// Print sign-in URLs instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Where `belay auth login` keeps tokens (default: the per-user cache folder +
    /// `/belay/tokens`).
    #[arg(long, env = "BELAY_TOKEN_CACHE", value_name = "DIR")]
    pub token_cache: Option<PathBuf>,
    /// The folder of the console's history file (default: the per-user data folder +
    /// `/belay`).
    #[arg(long, env = "BELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Runs the console.
pub async fn run(args: ChatArgs, config: Option<&std::path::Path>) -> anyhow::Result<()> {
    let config = BelayConfig::load(config)?;
    let spec = config.chat;
    let flags = ModelFlags {
        provider: args.provider,
        base_url: args.base_url,
        model: args.model,
        api_key: args.api_key,
        no_stream: args.no_stream,
    };
    let model = ModelSettings::resolve(&flags, &spec, &|name| std::env::var(name).ok())?;
    let era = protocol_era(args.protocol, &spec, &|name| std::env::var(name).ok())?;
    let targets = targets(&args.targets, &args.command, args.mcp_config.as_deref())?;
    let token_cache = match args.token_cache {
        Some(dir) => Some(TokenCache::new(dir)),
        None => TokenCache::default_dir().map(TokenCache::new),
    };
    let history = super::gateway::data_dir(args.data_dir)
        .ok()
        .map(|dir| dir.join("chat_history"));
    let options = ChatOptions {
        targets,
        model,
        system_prompt: spec.system_prompt,
        max_rounds: args
            .max_rounds
            .or(spec.max_rounds)
            .unwrap_or(DEFAULT_MAX_ROUNDS),
        approve_sampling: args.approve_sampling || spec.approve_sampling,
        sampling_models: if args.sampling_models.is_empty() {
            spec.sampling_models
        } else {
            args.sampling_models
        },
        prompt: args.prompt,
        json: args.json,
        history,
        connect: ConnectOptions {
            token_cache,
            open_browser: !args.no_browser,
            client_name: "belay chat".into(),
            era,
            ..ConnectOptions::default()
        },
        url_wait: spec
            .url_wait_secs
            .map_or(belay_chat::handler::DEFAULT_URL_WAIT, Duration::from_secs),
    };
    match belay_chat::run(options).await? {
        Outcome::Completed => Ok(()),
        Outcome::Incomplete => anyhow::bail!("the turn did not complete (see above)"),
    }
}

/// The targets named on the command line, with unique names.
fn targets(
    words: &[String],
    command: &[String],
    mcp_config: Option<&std::path::Path>,
) -> anyhow::Result<Vec<Target>> {
    let config = mcp_config
        .map(|path| McpJson::load(path, &|name| std::env::var(name).ok(), &mut ask_input))
        .transpose()?;
    let exe =
        std::env::current_exe().context("cannot find the belay executable to run `belay serve`")?;
    let mut targets = words
        .iter()
        .map(|word| Target::parse(word, config.as_ref(), &exe))
        .collect::<Result<Vec<_>, _>>()?;
    if words.is_empty()
        && let Some(config) = &config
    {
        targets.extend(config.names().filter_map(|name| config.get(name).cloned()));
    }
    if !command.is_empty() {
        targets.push(Target::command(command)?);
    }
    anyhow::ensure!(
        !targets.is_empty(),
        "no server to talk to: give a TARGET (e.g. `belay chat stock`), a URL, \
         --mcp-config FILE, or a command after `--`"
    );
    unique_names(&mut targets);
    Ok(targets)
}

/// Asks for an mcp.json `${input:…}` value on the terminal.
pub(crate) fn ask_input(spec: &InputSpec) -> Option<String> {
    let what = if spec.description.is_empty() {
        &spec.id
    } else {
        &spec.description
    };
    let note = if spec.password {
        " (shown as typed)"
    } else {
        ""
    };
    eprint!("{what}{note}: ");
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
    }
}
