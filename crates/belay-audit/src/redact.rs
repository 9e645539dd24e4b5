//! Redaction of secrets and personal data before anything is written.
//!
//! Two passes over every argument (and error message):
//! - **Keys**: an object member whose key names a secret has its whole value replaced by
//!   `"[redacted:secret]"`. Keys are split into words (`apiKey`, `x-api-key`, `API_KEY` are all
//!   `api key`); a key matches when a word is one of [`SECRET_WORDS`], the words joined (or
//!   two neighbours joined) are one of [`SECRET_COMPOUNDS`], or it matches a configured key. `max_tokens` stays (`tokens` is not `token`).
//! - **Values**: inside every string, the secrets and personal data belay-guard's
//!   [`SecretScanner`] finds (the one place these patterns live): PEM private keys
//!   (`[redacted:private_key]`), bearer tokens (`[redacted:bearer]`), JWTs (`[redacted:jwt]`),
//!   AWS, Azure, GCP, GitHub, Slack, OpenAI, Stripe, GitLab, npm and Hugging Face keys
//!   (`[redacted:api_key]`), e-mail addresses (`[redacted:email]`), IBANs that pass mod 97
//!   (`[redacted:iban]`), card numbers that pass Luhn (`[redacted:card]`) and US SSNs
//!   (`[redacted:ssn]`); then each configured pattern (`[redacted:NAME]`). Phone numbers and
//!   IP addresses are kept: they are the context an audit reader needs more often than not.
//!   Object keys themselves are kept as they are.

use belay_guard::{SecretKind, SecretScanner, key_words as words};
use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// Key words that mark a member as secret wherever they appear in the key.
pub const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "cookie",
    "credential",
    "credentials",
    "apikey",
    "bearer",
    "jwt",
    "otp",
    "ssn",
];

/// Whole keys (words joined, lowercase) that are secret although no single word is.
pub const SECRET_COMPOUNDS: &[&str] = &[
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
    "signingkey",
    "encryptionkey",
    "sessionid",
    "cardnumber",
    "creditcard",
    "cvv",
    "cvc",
    "pin",
];

/// Deeper than this, a value is replaced whole rather than walked (no unbounded recursion).
const MAX_DEPTH: usize = 64;

/// `[audit.redact]`: what to redact besides the built-in rules.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactSpec {
    /// Extra secret key names, matched like the built-in ones (case and `_`/`-` ignored).
    pub keys: Vec<String>,
    /// Extra patterns; each match inside a string becomes `[redacted:NAME]`.
    pub patterns: Vec<PatternSpec>,
}

/// One configured pattern (`[[audit.redact.patterns]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternSpec {
    /// Label shown in the placeholder: `[redacted:NAME]`.
    pub name: String,
    /// Regular expression (Rust `regex` syntax) to redact.
    pub regex: String,
}

/// The kinds of belay-guard's scanner the audit log redacts.
const AUDIT_KINDS: &[SecretKind] = &[
    SecretKind::PrivateKey,
    SecretKind::Bearer,
    SecretKind::Jwt,
    SecretKind::Aws,
    SecretKind::Azure,
    SecretKind::Gcp,
    SecretKind::Github,
    SecretKind::Slack,
    SecretKind::OpenAi,
    SecretKind::Stripe,
    SecretKind::OtherToken,
    SecretKind::Email,
    SecretKind::Iban,
    SecretKind::Card,
    SecretKind::Ssn,
];

/// Compiled redaction rules; cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Redactor {
    keys: Vec<String>,
    scanner: SecretScanner,
}

impl Redactor {
    /// The built-in rules plus those of `spec`.
    pub fn new(spec: &RedactSpec) -> Result<Self, Error> {
        let mut builder = SecretScanner::builder().kinds(AUDIT_KINDS);
        for p in &spec.patterns {
            if p.name.is_empty()
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(Error::Config(format!(
                    "redact pattern name {:?}: use letters, digits and _ only",
                    p.name
                )));
            }
            builder = builder.pattern(&p.name, &p.regex).map_err(|e| {
                Error::Config(format!("redact pattern {:?}: invalid regex: {e}", p.name))
            })?;
        }
        let scanner = builder
            .build()
            .map_err(|e| Error::Config(format!("redaction patterns: {e}")))?;
        Ok(Self {
            keys: spec.keys.iter().map(|k| words(k).concat()).collect(),
            scanner,
        })
    }

    /// Returns `value` with every secret and personal datum replaced by a placeholder.
    pub fn redact_value(&self, value: &Value) -> Value {
        self.walk(value, 0)
    }

    fn walk(&self, value: &Value, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::String("[redacted:too_deep]".into());
        }
        match value {
            Value::String(s) => Value::String(self.redact_str(s)),
            Value::Array(items) => items.iter().map(|v| self.walk(v, depth + 1)).collect(),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    let v = if self.is_secret_key(k) {
                        Value::String("[redacted:secret]".into())
                    } else {
                        self.walk(v, depth + 1)
                    };
                    (k.clone(), v)
                })
                .collect(),
            other => other.clone(),
        }
    }

    /// Whether an object member named `key` holds a secret.
    pub fn is_secret_key(&self, key: &str) -> bool {
        let words = words(key);
        let joined = words.concat();
        words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
            || SECRET_COMPOUNDS.contains(&joined.as_str())
            // `x-api-key`, `aws_secret_access_key`: a compound inside a longer key.
            || words
                .windows(2)
                .any(|pair| SECRET_COMPOUNDS.contains(&pair.concat().as_str()))
            || self
                .keys
                .iter()
                .any(|k| *k == joined || words.iter().any(|w| w == k))
    }

    /// Returns `text` with secrets and personal data inside it replaced.
    pub fn redact_str(&self, text: &str) -> String {
        self.scanner.redact(text).into_owned()
    }
}
