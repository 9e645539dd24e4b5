//! `belay.toml`: one file for every part, each table owned by the crate it configures.
//!
//! Sources, later ones winning: built-in defaults, the TOML file named by `--config`
//! (or `BELAY_CONFIG`), then environment variables `BELAY_<TABLE>__<KEY>` where `__`
//! separates nesting levels, e.g. `BELAY_AUTH_SERVER__ISSUER=https://auth.example.com`.
//! Only variables with a `__` are read, so flags' own variables (`BELAY_PORT`) never clash.
//! Unknown keys are errors, so a misspelt option is reported rather than ignored.

use std::path::Path;

use anyhow::Context;
use belay_mcp::http::HttpServerOptions;
use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;

/// Everything `belay.toml` can say. Every field has a default that works locally.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BelayConfig {
    /// The embedded authorization server (`belay auth serve`, `belay up`).
    pub auth_server: belay_auth_server::ServerSpec,
    /// Token checks of servers started with `--auth`, and of the gateway's edge when
    /// `[gateway] auth = true`.
    pub resource: belay_auth::ResourceSpec,
    /// `belay gateway serve`: upstreams, policy (`[gateway.policy]`), rate limits
    /// (`[gateway.rate_limits]`) and edge sign-in.
    pub gateway: belay_gateway::GatewaySpec,
    /// The gateway's audit log (`belay audit verify|tail|query` read it).
    pub audit: belay_audit::AuditSpec,
    /// The HTTP front of every server `belay` runs (`serve --transport http|sse`, `auth
    /// serve`, `gateway serve`, `up`): which reverse proxies may name the client.
    pub http: belay_mcp::http::HttpSpec,
    /// `belay chat`: the model it talks to (`provider`, `base_url`, `model`,
    /// `api_key_env`…), overridden by its flags.
    pub chat: belay_chat::ChatSpec,
    /// `belay registry`: where it listens, who may publish into which namespaces
    /// (`[registry.namespaces]`), publish limits, and how publish tokens are checked
    /// (`[registry.auth]`, the `[resource]` keys).
    pub registry: belay_registry::RegistrySpec,
    /// The operations console at `/ui` of `belay up` and `belay gateway serve` (with
    /// sign-in): the admin scope, who the admins are, the console's OAuth client.
    pub console: belay_console::ConsoleSpec,
    /// Alert rules over the audit stream and the webhooks they notify (`belay up`, `belay
    /// gateway serve`, `belay alerts`).
    pub alerts: belay_console::alerts::AlertsSpec,
}

impl BelayConfig {
    /// `options` for a server `belay` runs, with the proxies `[http]` trusts.
    pub fn front(&self, options: HttpServerOptions) -> HttpServerOptions {
        HttpServerOptions {
            trusted_proxies: self.http.trusted_proxies(),
            ..options
        }
    }
}

impl BelayConfig {
    /// Loads defaults, then `file` if given, then `BELAY_*__*` environment overrides.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            anyhow::ensure!(
                file.is_file(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file_exact(file));
        }
        let env = Env::prefixed("BELAY_")
            .filter(|key| key.as_str().contains("__"))
            .split("__");
        figment
            .merge(env)
            .extract()
            .context("invalid configuration")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_gives_defaults() -> anyhow::Result<()> {
        BelayConfig::load(None)?;
        Ok(())
    }

    #[test]
    fn unknown_keys_are_errors() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("belay-config-{}.toml", std::process::id()));
        std::fs::write(&path, "[resourse]\nissuer = \"x\"\n")?;
        let err = BelayConfig::load(Some(&path))
            .err()
            .map(|e| format!("{e:#}"));
        std::fs::remove_file(&path)?;
        let err = err.unwrap_or_default();
        assert!(err.contains("resourse"), "{err}");
        Ok(())
    }

    #[test]
    fn gateway_and_audit_tables_load() -> anyhow::Result<()> {
        let path =
            std::env::temp_dir().join(format!("belay-config-gw-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[gateway]\nauth = true\n[[gateway.upstream]]\nname = \"s\"\n\
             transport = { type = \"stdio\", command = \"x\" }\n\
             [gateway.policy]\ndefault = \"deny\"\n\
             [[gateway.policy.rules]]\nid = \"r\"\nnames = [\"get_*\"]\n\
             [gateway.rate_limits]\nper_user = { per_minute = 6 }\n\
             [audit]\nsinks = [\"file\"]\n",
        )?;
        let config = BelayConfig::load(Some(&path));
        std::fs::remove_file(&path)?;
        let config = config?;
        assert!(config.gateway.auth);
        assert_eq!(config.gateway.upstreams.len(), 1);
        assert_eq!(config.gateway.policy.rules[0].id, "r");
        assert!(config.gateway.rate_limits.per_user.is_some());
        assert_eq!(config.audit.sinks, vec![belay_audit::Sink::File]);
        Ok(())
    }

    #[test]
    fn trusted_proxies_load_from_the_file_and_bad_ones_are_named() -> anyhow::Result<()> {
        let path =
            std::env::temp_dir().join(format!("belay-config-http-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.1\"]\n",
        )?;
        let config = BelayConfig::load(Some(&path));
        std::fs::write(&path, "[http]\ntrusted_proxies = [\"10.0.0.0/33\"]\n")?;
        let bad = BelayConfig::load(Some(&path))
            .err()
            .map(|e| format!("{e:#}"));
        std::fs::remove_file(&path)?;
        let options = config?.front(HttpServerOptions::default());
        assert!(options.trusted_proxies.trusts("10.1.2.3".parse()?));
        assert!(options.trusted_proxies.trusts("192.0.2.1".parse()?));
        assert!(!options.trusted_proxies.trusts("192.0.2.2".parse()?));
        let bad = bad.unwrap_or_default();
        assert!(bad.contains("trusted proxy `10.0.0.0/33`"), "{bad}");
        // None by default.
        let options = BelayConfig::default().front(HttpServerOptions::default());
        assert!(!options.trusted_proxies.trusts("127.0.0.1".parse()?));
        Ok(())
    }

    #[test]
    fn the_chat_table_loads_and_refuses_unknown_keys() -> anyhow::Result<()> {
        let path =
            std::env::temp_dir().join(format!("belay-config-chat-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[chat]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:11434/v1\"\n\
             model = \"llama3.2\"\nmax_rounds = 4\napi_key_env = \"MY_KEY\"\n",
        )?;
        let config = BelayConfig::load(Some(&path));
        std::fs::write(&path, "[chat]\napi_key = \"sk-inline\"\n")?;
        let inline_key = BelayConfig::load(Some(&path))
            .err()
            .map(|e| format!("{e:#}"));
        std::fs::remove_file(&path)?;
        let chat = config?.chat;
        assert_eq!(chat.provider, Some(belay_chat::spec::Provider::Openai));
        assert_eq!(chat.model.as_deref(), Some("llama3.2"));
        assert_eq!(chat.max_rounds, Some(4));
        assert_eq!(chat.api_key_env.as_deref(), Some("MY_KEY"));
        // A key written in the file is refused: it names the variable instead.
        let inline_key = inline_key.unwrap_or_default();
        assert!(inline_key.contains("api_key"), "{inline_key}");
        Ok(())
    }

    #[test]
    fn the_registry_table_loads_and_refuses_unknown_keys() -> anyhow::Result<()> {
        let path =
            std::env::temp_dir().join(format!("belay-config-registry-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[registry]\nport = 8200\nmax_body_bytes = 1000\n\
             [registry.namespaces]\nalice = [\"com.example\", \"com.example.*\"]\n\
             \"client:ci\" = [\"io.acme\"]\n\
             [registry.auth]\nissuer = \"https://auth.example.com\"\nservice_clients = [\"ci\"]\n",
        )?;
        let config = BelayConfig::load(Some(&path));
        std::fs::write(&path, "[registry]\nnamespace = {}\n")?;
        let misspelt = BelayConfig::load(Some(&path))
            .err()
            .map(|e| format!("{e:#}"));
        std::fs::remove_file(&path)?;
        let registry = config?.registry;
        assert_eq!(registry.port, 8200);
        assert_eq!(registry.max_body_bytes, 1000);
        assert!(registry.may_publish("alice", "com.example.team"));
        assert!(registry.may_publish("client:ci", "io.acme"));
        assert!(!registry.may_publish("ci", "io.acme"));
        assert_eq!(registry.auth.issuer, "https://auth.example.com");
        assert_eq!(registry.scope, "registry:publish");
        assert!(misspelt.unwrap_or_default().contains("namespace"));
        Ok(())
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = BelayConfig::load(Some(Path::new("/nonexistent/belay.toml")))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/belay.toml"), "{err}");
    }
}
