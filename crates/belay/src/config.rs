//! `belay.toml`: one file for every part, each table owned by the crate it configures.
//!
//! Sources, later ones winning: built-in defaults, the TOML file named by `--config`
//! (or `BELAY_CONFIG`), then environment variables `BELAY_<TABLE>__<KEY>` where `__`
//! separates nesting levels, e.g. `BELAY_AUTH_SERVER__ISSUER=https://auth.example.com`.
//! Only variables with a `__` are read, so flags' own variables (`BELAY_PORT`) never clash.
//! Unknown keys are errors, so a misspelt option is reported rather than ignored.

use std::path::Path;

use anyhow::Context;
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
    /// Token checks of servers started with `--auth`.
    pub resource: belay_auth::ResourceSpec,
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
    fn a_missing_file_is_named() {
        let err = BelayConfig::load(Some(Path::new("/nonexistent/belay.toml")))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/belay.toml"), "{err}");
    }
}
