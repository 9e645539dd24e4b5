//! Which model to talk to: flags first, then `[chat]` (with its `BELAY_CHAT__*` overrides),
//! then the provider's usual environment variables, then defaults. The protocol era: the
//! flag, then `BELAY_CHAT_PROTOCOL`, then `[chat] protocol`, then `auto`.

use belay_client::ProtocolEra;
use http::HeaderValue;

use crate::spec::{ChatSpec, Provider};

/// The Azure OpenAI `api-version` used when none is given (a generally available one).
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";
/// OpenAI's own endpoint, used when a key is given and no base URL.
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// The model asked for at OpenAI when none is named.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";
/// Anthropic's own endpoint (the API's paths start with `/v1`, added by the client).
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The model asked for at Anthropic when none is named.
pub const DEFAULT_ANTHROPIC_MODEL: &str = "claude-sonnet-4-5";
/// Model requests one turn may make while the model keeps calling tools.
pub const DEFAULT_MAX_ROUNDS: u32 = 10;

/// What the command line said about the model (each `None` when not given).
#[derive(Debug, Clone, Default)]
pub struct ModelFlags {
    /// `--provider`.
    pub provider: Option<Provider>,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--model`.
    pub model: Option<String>,
    /// `--api-key` (better: the environment variable).
    pub api_key: Option<String>,
    /// `--no-stream`.
    pub no_stream: bool,
}

/// Where the model runs.
#[derive(Clone, PartialEq)]
pub enum Endpoint {
    /// An OpenAI-compatible endpoint.
    OpenAi {
        /// The base URL (ending in `/v1` for most servers).
        base_url: String,
        /// The key, sent as `Authorization: Bearer`; local servers need none.
        api_key: Option<String>,
        /// The model.
        model: String,
    },
    /// An Azure OpenAI deployment.
    Azure {
        /// The resource endpoint.
        endpoint: String,
        /// The deployment (Azure's name for the model).
        deployment: String,
        /// The `api-version`.
        api_version: String,
        /// The key, sent as `api-key`.
        api_key: String,
    },
    /// Anthropic's Messages API.
    Anthropic {
        /// The base URL, without `/v1`.
        base_url: String,
        /// The key, sent as `x-api-key`; a local stand-in may need none.
        api_key: Option<String>,
        /// The model.
        model: String,
    },
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a key in a log line or a panic message.
        match self {
            Self::OpenAi {
                base_url, model, ..
            } => write!(f, "OpenAi({model} at {base_url})"),
            Self::Azure {
                endpoint,
                deployment,
                ..
            } => write!(f, "Azure({deployment} at {endpoint})"),
            Self::Anthropic {
                base_url, model, ..
            } => write!(f, "Anthropic({model} at {base_url})"),
        }
    }
}

/// The model settings in force.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    /// Where.
    pub endpoint: Endpoint,
    /// Stream answers.
    pub stream: bool,
}

/// Settings that cannot work, said so the person knows what to set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// How to configure a model, for the console without one and for errors.
pub const HOW_TO_CONFIGURE: &str = "no model configured: set OPENAI_API_KEY (OpenAI), or \
    --base-url http://127.0.0.1:11434/v1 --model llama3.2 (Ollama or any OpenAI-compatible \
    server), or AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and AZURE_OPENAI_DEPLOYMENT \
    (Azure OpenAI), or --provider anthropic with ANTHROPIC_API_KEY (Anthropic), or a [chat] \
    table in belay.toml";

impl ModelSettings {
    /// Resolves the settings; `Ok(None)` when nothing names a model at all (the console then
    /// works without one). `env` reads an environment variable (tests pass their own).
    pub fn resolve(
        flags: &ModelFlags,
        spec: &ChatSpec,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, SettingsError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let base_url = flags.base_url.clone().or_else(|| spec.base_url.clone());
        let provider = flags.provider.or(spec.provider).unwrap_or_else(|| {
            if base_url.is_none() && env("AZURE_OPENAI_ENDPOINT").is_some() {
                Provider::Azure
            } else {
                Provider::Openai
            }
        });
        let key_var = spec.api_key_env.clone().unwrap_or_else(|| {
            match provider {
                Provider::Openai => "OPENAI_API_KEY",
                Provider::Azure => "AZURE_OPENAI_API_KEY",
                Provider::Anthropic => "ANTHROPIC_API_KEY",
            }
            .to_owned()
        });
        let api_key = flags.api_key.clone().or_else(|| env(&key_var));
        if let Some(key) = &api_key {
            // async-openai builds its headers with `unwrap`: a key no header can carry
            // (a newline pasted with it) is refused here instead of panicking there.
            HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                SettingsError(format!(
                    "the API key (from {}) holds characters an HTTP header cannot carry; \
                     check for a pasted newline",
                    if flags.api_key.is_some() {
                        "--api-key"
                    } else {
                        &key_var
                    }
                ))
            })?;
        }
        let model = flags.model.clone().or_else(|| spec.model.clone());
        let stream = !flags.no_stream && spec.stream.unwrap_or(true);
        let endpoint = match provider {
            Provider::Openai => {
                let base_url = base_url.or_else(|| env("OPENAI_BASE_URL"));
                if base_url.is_none() && model.is_none() && api_key.is_none() {
                    return Ok(None);
                }
                let base_url = base_url.unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.to_owned());
                check_url(
                    &base_url,
                    "--base-url (or [chat] base_url, OPENAI_BASE_URL)",
                )?;
                if api_key.is_none() && base_url == DEFAULT_OPENAI_BASE_URL {
                    return Err(SettingsError(format!(
                        "OpenAI needs an API key: set {key_var} (or pass --base-url for a \
                         local server that needs none)"
                    )));
                }
                Endpoint::OpenAi {
                    base_url: base_url.trim_end_matches('/').to_owned(),
                    api_key,
                    model: model.unwrap_or_else(|| DEFAULT_OPENAI_MODEL.to_owned()),
                }
            }
            Provider::Azure => {
                let endpoint = base_url
                    .or_else(|| env("AZURE_OPENAI_ENDPOINT"))
                    .ok_or_else(|| {
                        SettingsError(
                            "Azure OpenAI needs its endpoint: set AZURE_OPENAI_ENDPOINT \
                             (https://NAME.openai.azure.com) or --base-url"
                                .into(),
                        )
                    })?;
                check_url(&endpoint, "AZURE_OPENAI_ENDPOINT (or --base-url)")?;
                let deployment = model
                    .or_else(|| env("AZURE_OPENAI_DEPLOYMENT"))
                    .ok_or_else(|| {
                        SettingsError(
                            "Azure OpenAI needs a deployment: set AZURE_OPENAI_DEPLOYMENT or \
                             --model"
                                .into(),
                        )
                    })?;
                let api_key = api_key.ok_or_else(|| {
                    SettingsError(format!("Azure OpenAI needs an API key: set {key_var}"))
                })?;
                Endpoint::Azure {
                    endpoint: endpoint.trim_end_matches('/').to_owned(),
                    deployment,
                    api_version: spec
                        .api_version
                        .clone()
                        .or_else(|| env("AZURE_OPENAI_API_VERSION"))
                        .unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.to_owned()),
                    api_key,
                }
            }
            Provider::Anthropic => {
                let base_url = base_url
                    .or_else(|| env("ANTHROPIC_BASE_URL"))
                    .unwrap_or_else(|| DEFAULT_ANTHROPIC_BASE_URL.to_owned());
                check_url(
                    &base_url,
                    "--base-url (or [chat] base_url, ANTHROPIC_BASE_URL)",
                )?;
                let base_url = base_url.trim_end_matches('/').to_owned();
                if api_key.is_none() && base_url == DEFAULT_ANTHROPIC_BASE_URL {
                    return Err(SettingsError(format!(
                        "Anthropic needs an API key: set {key_var}"
                    )));
                }
                Endpoint::Anthropic {
                    base_url,
                    api_key,
                    model: model.unwrap_or_else(|| DEFAULT_ANTHROPIC_MODEL.to_owned()),
                }
            }
        };
        Ok(Some(Self { endpoint, stream }))
    }
}

/// The variable that names the protocol era when no flag does.
pub const PROTOCOL_VAR: &str = "BELAY_CHAT_PROTOCOL";

/// The protocol era sessions open in: `flag` (`--protocol`), then [`PROTOCOL_VAR`], then
/// `[chat] protocol`, then [`ProtocolEra::Auto`]. A variable naming no era is an error, not
/// ignored: the person meant something.
pub fn protocol_era(
    flag: Option<ProtocolEra>,
    spec: &ChatSpec,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProtocolEra, SettingsError> {
    if let Some(era) = flag {
        return Ok(era);
    }
    if let Some(value) = env(PROTOCOL_VAR).filter(|v| !v.trim().is_empty()) {
        return value
            .parse()
            .map_err(|e| SettingsError(format!("{PROTOCOL_VAR}: {e}")));
    }
    Ok(spec.protocol.unwrap_or_default())
}

fn check_url(url: &str, from: &str) -> Result<(), SettingsError> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        _ => Err(SettingsError(format!(
            "`{url}` from {from} is not an http(s) URL"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(
        flags: ModelFlags,
        spec: ChatSpec,
        vars: &[(&str, &str)],
    ) -> Result<Option<ModelSettings>, SettingsError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ModelSettings::resolve(&flags, &spec, &|name| vars.get(name).cloned())
    }

    #[test]
    fn the_protocol_era_comes_from_the_flag_then_the_variable_then_the_table() {
        let table: ChatSpec = match serde_json::from_str(r#"{"protocol": "handshake"}"#) {
            Ok(spec) => spec,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(table.protocol, Some(ProtocolEra::Handshake));
        let no_env = |_: &str| None;
        let env = |name: &str| (name == PROTOCOL_VAR).then(|| "2026-07-28".to_owned());
        assert_eq!(
            protocol_era(None, &ChatSpec::default(), &no_env),
            Ok(ProtocolEra::Auto)
        );
        assert_eq!(
            protocol_era(None, &table, &no_env),
            Ok(ProtocolEra::Handshake)
        );
        assert_eq!(protocol_era(None, &table, &env), Ok(ProtocolEra::Latest));
        assert_eq!(
            protocol_era(Some(ProtocolEra::Auto), &table, &env),
            Ok(ProtocolEra::Auto)
        );
        let blank = |_: &str| Some(" ".to_owned());
        assert_eq!(
            protocol_era(None, &table, &blank),
            Ok(ProtocolEra::Handshake)
        );
    }

    #[test]
    fn a_protocol_era_nobody_knows_is_refused_saying_the_choices() {
        let env = |_: &str| Some("2025-11-25".to_owned());
        let err = protocol_era(None, &ChatSpec::default(), &env);
        assert!(
            matches!(&err, Err(SettingsError(m)) if m.contains(PROTOCOL_VAR) && m.contains("handshake")),
            "{err:?}"
        );
        let table = serde_json::from_str::<ChatSpec>(r#"{"protocol": "latest"}"#);
        assert!(
            matches!(&table, Err(e) if e.to_string().contains("2026-07-28")),
            "{table:?}"
        );
    }

    #[test]
    fn nothing_set_means_no_model() {
        assert_eq!(
            resolve(ModelFlags::default(), ChatSpec::default(), &[]),
            Ok(None)
        );
    }

    #[test]
    fn openai_key_alone_picks_openai_with_the_default_model() -> Result<(), SettingsError> {
        let settings = resolve(
            ModelFlags::default(),
            ChatSpec::default(),
            &[("OPENAI_API_KEY", "sk-1")],
        )?;
        let Some(ModelSettings {
            endpoint:
                Endpoint::OpenAi {
                    base_url,
                    api_key,
                    model,
                },
            stream: true,
        }) = settings
        else {
            panic!("expected OpenAI settings, got {settings:?}");
        };
        assert_eq!(base_url, DEFAULT_OPENAI_BASE_URL);
        assert_eq!(api_key.as_deref(), Some("sk-1"));
        assert_eq!(model, DEFAULT_OPENAI_MODEL);
        Ok(())
    }

    #[test]
    fn flags_win_over_the_table_and_the_environment() -> Result<(), SettingsError> {
        let flags = ModelFlags {
            base_url: Some("http://127.0.0.1:11434/v1/".into()),
            model: Some("llama3.2".into()),
            no_stream: true,
            ..ModelFlags::default()
        };
        let spec = ChatSpec {
            base_url: Some("http://elsewhere/v1".into()),
            model: Some("other".into()),
            ..ChatSpec::default()
        };
        let settings = resolve(flags, spec, &[("OPENAI_BASE_URL", "http://env/v1")])?;
        assert_eq!(
            settings,
            Some(ModelSettings {
                endpoint: Endpoint::OpenAi {
                    base_url: "http://127.0.0.1:11434/v1".into(),
                    api_key: None,
                    model: "llama3.2".into()
                },
                stream: false
            })
        );
        Ok(())
    }

    #[test]
    fn azure_from_its_variables() -> Result<(), SettingsError> {
        let settings = resolve(
            ModelFlags::default(),
            ChatSpec::default(),
            &[
                ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com/"),
                ("AZURE_OPENAI_API_KEY", "k"),
                ("AZURE_OPENAI_DEPLOYMENT", "gpt-4o"),
            ],
        )?;
        assert_eq!(
            settings.map(|s| s.endpoint),
            Some(Endpoint::Azure {
                endpoint: "https://r.openai.azure.com".into(),
                deployment: "gpt-4o".into(),
                api_version: DEFAULT_AZURE_API_VERSION.into(),
                api_key: "k".into()
            })
        );
        Ok(())
    }

    #[test]
    fn missing_pieces_are_named() {
        let azure = ChatSpec {
            provider: Some(Provider::Azure),
            ..ChatSpec::default()
        };
        let err = resolve(
            ModelFlags::default(),
            azure,
            &[("AZURE_OPENAI_ENDPOINT", "https://r")],
        );
        assert!(
            matches!(&err, Err(SettingsError(m)) if m.contains("AZURE_OPENAI_DEPLOYMENT")),
            "{err:?}"
        );
        let openai = ModelFlags {
            model: Some("gpt-4o".into()),
            ..ModelFlags::default()
        };
        let err = resolve(openai, ChatSpec::default(), &[]);
        assert!(
            matches!(&err, Err(SettingsError(m)) if m.contains("OPENAI_API_KEY")),
            "{err:?}"
        );
        let bad_url = ModelFlags {
            base_url: Some("localhost:11434".into()),
            ..ModelFlags::default()
        };
        let err = resolve(bad_url, ChatSpec::default(), &[]);
        assert!(
            matches!(&err, Err(SettingsError(m)) if m.contains("not an http(s) URL")),
            "{err:?}"
        );
    }

    #[test]
    fn a_key_with_a_newline_is_refused_not_a_panic() {
        let err = resolve(
            ModelFlags::default(),
            ChatSpec::default(),
            &[("OPENAI_API_KEY", "sk-1\n2")],
        );
        assert!(
            matches!(&err, Err(SettingsError(m)) if m.contains("OPENAI_API_KEY")),
            "{err:?}"
        );
    }

    #[test]
    fn anthropic_from_its_variable_with_defaults() -> Result<(), SettingsError> {
        let flags = ModelFlags {
            provider: Some(Provider::Anthropic),
            ..ModelFlags::default()
        };
        let settings = resolve(
            flags.clone(),
            ChatSpec::default(),
            &[("ANTHROPIC_API_KEY", "sk-ant"), ("OPENAI_API_KEY", "o")],
        )?;
        assert_eq!(
            settings.map(|s| s.endpoint),
            Some(Endpoint::Anthropic {
                base_url: DEFAULT_ANTHROPIC_BASE_URL.into(),
                api_key: Some("sk-ant".into()),
                model: DEFAULT_ANTHROPIC_MODEL.into(),
            })
        );
        // Without a key at Anthropic's own endpoint: the variable is named.
        let err = resolve(flags.clone(), ChatSpec::default(), &[]);
        assert!(
            matches!(&err, Err(SettingsError(m)) if m.contains("ANTHROPIC_API_KEY")),
            "{err:?}"
        );
        // The table can choose it, and a local stand-in needs no key.
        let spec = ChatSpec {
            provider: Some(Provider::Anthropic),
            base_url: Some("http://127.0.0.1:9/".into()),
            model: Some("claude-x".into()),
            ..ChatSpec::default()
        };
        let settings = resolve(ModelFlags::default(), spec, &[])?;
        assert_eq!(
            settings.map(|s| s.endpoint),
            Some(Endpoint::Anthropic {
                base_url: "http://127.0.0.1:9".into(),
                api_key: None,
                model: "claude-x".into(),
            })
        );
        let err = resolve(
            flags,
            ChatSpec::default(),
            &[("ANTHROPIC_API_KEY", "sk\nant")],
        );
        assert!(
            matches!(&err, Err(SettingsError(m)) if m.contains("ANTHROPIC_API_KEY")),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn the_key_comes_from_the_variable_the_table_names() -> Result<(), SettingsError> {
        let spec = ChatSpec {
            api_key_env: Some("GROQ_KEY".into()),
            base_url: Some("https://api.groq.com/openai/v1".into()),
            ..ChatSpec::default()
        };
        let settings = resolve(
            ModelFlags::default(),
            spec,
            &[("GROQ_KEY", "g"), ("OPENAI_API_KEY", "o")],
        )?;
        assert!(
            matches!(settings.map(|s| s.endpoint), Some(Endpoint::OpenAi { api_key: Some(k), .. }) if k == "g")
        );
        Ok(())
    }
}
