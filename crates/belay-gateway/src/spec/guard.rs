//! `[gateway.guard]` and `[gateway.upstream.guard]`: which of belay-guard's checks run for an
//! upstream, and what each does with what it finds.

use belay_guard::Severity;
use serde::Deserialize;

/// The guards of one upstream (`[gateway.upstream.guard]`), or of every upstream without a
/// table of its own (`[gateway.guard]`). Every check is off until configured; `belay up`
/// turns on [`GuardSpec::recommended`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardSpec {
    /// Tool metadata (names, descriptions, schemas, annotations) on every list: `off`,
    /// `flag` (audit and log only) or `hide` (hidden from clients, calls refused).
    pub metadata: MetadataAction,
    /// The severity at which a metadata finding hides a tool (default `high`).
    #[serde(deserialize_with = "severity")]
    pub hide_at: Severity,
    /// Rug-pull pinning: a tool's definition is pinned in the store the first time it is
    /// seen; a later change holds the tool back (hidden, calls refused) until
    /// `belay gateway approve`.
    pub pin: bool,
    /// A call's arguments against the tool's own `inputSchema`, and path traversal and
    /// shell metacharacters in path- and command-like parameters: `off`, `flag` or `block`.
    pub arguments: CheckAction,
    /// The severity at which an argument or secret finding blocks a call (default `high`;
    /// a schema violation is high).
    #[serde(deserialize_with = "severity")]
    pub block_at: Severity,
    /// Prompt injection in tool results, resource contents and prompt messages: `off`,
    /// `flag`, `annotate` (spotlighted as untrusted data), `redact` (flagged sentences
    /// removed) or `block` (the result withheld).
    pub injection: InjectionAction,
    /// The injection score (0 to 1) at which `injection` acts (default 0.5).
    pub injection_threshold: f32,
    /// Personal data and secrets in results: `off`, `flag`, `redact` or `block`.
    pub secrets: SecretAction,
    /// Personal data and secrets in a call's arguments: `off`, `flag` or `block`.
    pub secrets_in_arguments: CheckAction,
    /// Which kinds `secrets` looks for (`private_key`, `bearer`, `jwt`, `api_key`, `email`,
    /// `iban`, `card`, `ssn`, `phone`, `ip`); empty: all of them.
    pub secret_kinds: Vec<String>,
    /// Links and images in results pointing outside `allowed_hosts`: `off`, `flag` or
    /// `block`.
    pub links: CheckAction,
    /// Hosts results may link to (a host covers its subdomains).
    pub allowed_hosts: Vec<String>,
}

impl Default for GuardSpec {
    fn default() -> Self {
        Self {
            metadata: MetadataAction::Off,
            hide_at: Severity::High,
            pin: false,
            arguments: CheckAction::Off,
            block_at: Severity::High,
            injection: InjectionAction::Off,
            injection_threshold: belay_guard::DEFAULT_THRESHOLD,
            secrets: SecretAction::Off,
            secrets_in_arguments: CheckAction::Off,
            secret_kinds: Vec::new(),
            links: CheckAction::Off,
            allowed_hosts: Vec::new(),
        }
    }
}

impl GuardSpec {
    /// What `belay up` runs for its upstreams unless `[gateway.guard]` says otherwise:
    /// poisoned tools hidden, definitions pinned, arguments checked against their schema,
    /// injected results spotlighted, card numbers, bank accounts, social security numbers,
    /// keys and tokens redacted from results (not e-mail addresses, phone numbers or IP
    /// addresses, which tools return on purpose), secrets in arguments and links to other
    /// hosts recorded.
    pub fn recommended() -> Self {
        Self {
            metadata: MetadataAction::Hide,
            pin: true,
            arguments: CheckAction::Block,
            injection: InjectionAction::Annotate,
            secrets: SecretAction::Redact,
            secrets_in_arguments: CheckAction::Flag,
            secret_kinds: [
                "private_key",
                "bearer",
                "jwt",
                "api_key",
                "iban",
                "card",
                "ssn",
            ]
            .map(str::to_owned)
            .to_vec(),
            links: CheckAction::Flag,
            ..Self::default()
        }
    }

    /// Whether no check runs.
    pub fn is_off(&self) -> bool {
        self.metadata == MetadataAction::Off
            && !self.pin
            && self.arguments == CheckAction::Off
            && self.injection == InjectionAction::Off
            && self.secrets == SecretAction::Off
            && self.secrets_in_arguments == CheckAction::Off
            && self.links == CheckAction::Off
    }

    /// Checks what serde cannot: the threshold's range and the secret kinds' names.
    pub fn validate(&self, table: &str) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.injection_threshold) || self.injection_threshold.is_nan() {
            return Err(format!(
                "{table}: injection_threshold = {} is outside 0 to 1",
                self.injection_threshold
            ));
        }
        for kind in &self.secret_kinds {
            if !SECRET_KINDS.contains(&kind.as_str()) {
                return Err(format!(
                    "{table}: unknown secret kind `{kind}`: use {}",
                    SECRET_KINDS.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// The names `secret_kinds` takes (belay-guard's labels).
pub const SECRET_KINDS: &[&str] = &[
    "private_key",
    "bearer",
    "jwt",
    "api_key",
    "email",
    "iban",
    "card",
    "ssn",
    "phone",
    "ip",
];

/// What the metadata guard does with a finding at or above `hide_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataAction {
    /// No scan.
    Off,
    /// Audit and log; the tool stays visible.
    Flag,
    /// Hide the tool and refuse its calls.
    Hide,
}

/// What a check does with a finding at or above `block_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckAction {
    /// No check.
    Off,
    /// Audit and log; the request or result goes on.
    Flag,
    /// Stop it.
    Block,
}

/// What the injection guard does with a result at or above the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InjectionAction {
    /// No scan.
    Off,
    /// Audit and log; the result goes on unchanged.
    Flag,
    /// Spotlight the text as untrusted data (delimiters with a random nonce, data marks).
    Annotate,
    /// Remove the flagged sentences.
    Redact,
    /// Withhold the result.
    Block,
}

/// What the secrets guard does with a secret in a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretAction {
    /// No scan.
    Off,
    /// Audit and log; the result goes on unchanged.
    Flag,
    /// Replace each with `[redacted:KIND]`.
    Redact,
    /// Withhold the result.
    Block,
}

fn severity<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Severity, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown severity `{name}`: use info, low, medium, high or critical"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_is_off_by_default_and_recommended_turns_them_on() {
        assert!(GuardSpec::default().is_off());
        let recommended = GuardSpec::recommended();
        assert!(!recommended.is_off());
        assert!(recommended.validate("[gateway.guard]").is_ok());
    }

    #[test]
    fn a_table_reads_its_actions_and_severities() -> Result<(), toml::de::Error> {
        let spec: GuardSpec = toml::from_str(
            "metadata = \"hide\"\nhide_at = \"medium\"\npin = true\ninjection = \"block\"\n\
             secrets = \"redact\"\nsecret_kinds = [\"card\"]",
        )?;
        assert_eq!(spec.metadata, MetadataAction::Hide);
        assert_eq!(spec.hide_at, Severity::Medium);
        assert_eq!(spec.injection, InjectionAction::Block);
        assert!(spec.pin);
        Ok(())
    }

    #[test]
    fn bad_values_say_what_to_write() {
        let err = toml::from_str::<GuardSpec>("hide_at = \"severe\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("use info, low, medium, high or critical"),
            "{err}"
        );
        let err = toml::from_str::<GuardSpec>("injection = \"maybe\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("annotate"), "{err}");
        let spec = GuardSpec {
            secret_kinds: vec!["passport".into()],
            ..GuardSpec::default()
        };
        let err = spec.validate("[gateway.guard]").err().unwrap_or_default();
        assert!(err.contains("unknown secret kind `passport`"), "{err}");
        let spec = GuardSpec {
            injection_threshold: 1.5,
            ..GuardSpec::default()
        };
        assert!(spec.validate("[gateway.guard]").is_err());
    }
}
