//! Redaction of secrets and personal data before anything is written.
//!
//! Two passes over every argument (and error message):
//! - **Keys**: an object member whose key names a secret has its whole value replaced by
//!   `"[redacted:secret]"`. Keys are split into words (`apiKey`, `x-api-key`, `API_KEY` are all
//!   `api key`); a key matches when a word is one of [`SECRET_WORDS`], the words joined (or
//!   two neighbours joined) are one of [`SECRET_COMPOUNDS`], or it matches a configured key. `max_tokens` stays (`tokens` is not `token`).
//! - **Values**: inside every string, bearer tokens (`[redacted:bearer]`), JWTs
//!   (`[redacted:jwt]`), PEM private keys (`[redacted:private_key]`), API keys with a known
//!   prefix (`sk-`, `ghp_`, `github_pat_`, `xoxb-`, `AKIA`, `AIza`, `glpat-`, `sk_live_`…:
//!   `[redacted:api_key]`), e-mail addresses (`[redacted:email]`), card numbers of 13 to 19
//!   digits that pass the Luhn check (`[redacted:card]`), and each configured pattern
//!   (`[redacted:NAME]`). Object keys themselves are kept as they are.

use regex::Regex;
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

/// Compiled redaction rules; cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Redactor {
    keys: Vec<String>,
    rules: Vec<(String, Regex)>,
    card: Regex,
}

impl Redactor {
    /// The built-in rules plus those of `spec`.
    pub fn new(spec: &RedactSpec) -> Result<Self, Error> {
        let mut rules = Vec::new();
        for (name, pattern) in BUILT_IN {
            let re = Regex::new(pattern)
                .map_err(|e| Error::Config(format!("built-in pattern {name}: {e}")))?;
            rules.push(((*name).to_owned(), re));
        }
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
            let re = Regex::new(&p.regex).map_err(|e| {
                Error::Config(format!("redact pattern {:?}: invalid regex: {e}", p.name))
            })?;
            rules.push((p.name.clone(), re));
        }
        let card = Regex::new(r"\b\d(?:[ -]?\d){12,18}\b")
            .map_err(|e| Error::Config(format!("built-in card pattern: {e}")))?;
        Ok(Self {
            keys: spec.keys.iter().map(|k| words(k).concat()).collect(),
            rules,
            card,
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
        let mut out = std::borrow::Cow::Borrowed(text);
        for (name, re) in &self.rules {
            if re.is_match(&out) {
                let placeholder = format!("[redacted:{name}]");
                out = std::borrow::Cow::Owned(
                    re.replace_all(&out, regex::NoExpand(&placeholder))
                        .into_owned(),
                );
            }
        }
        if self.card.is_match(&out) {
            out = std::borrow::Cow::Owned(
                self.card
                    .replace_all(&out, |c: &regex::Captures<'_>| {
                        let digits = c.get(0).map_or("", |m| m.as_str());
                        if luhn(digits) {
                            "[redacted:card]".to_owned()
                        } else {
                            digits.to_owned()
                        }
                    })
                    .into_owned(),
            );
        }
        out.into_owned()
    }
}

/// Order matters: whole private keys and bearer headers go before the token shapes inside.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "private_key",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
    ),
    ("bearer", r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*"),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
    ),
    (
        "api_key",
        r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20}|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|npm_[A-Za-z0-9]{36}|hf_[A-Za-z0-9]{30,})",
    ),
    (
        "email",
        r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}",
    ),
];

/// Splits a key into lowercase words at `_`, `-`, `.`, spaces and lower→upper case changes.
fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The Luhn checksum over the digits of `text` (separators ignored).
fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || digits.iter().all(|d| *d == 0) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_words() {
        assert_eq!(words("x-api-key"), ["x", "api", "key"]);
        assert_eq!(words("apiKey"), ["api", "key"]);
        assert_eq!(words("API_KEY"), ["api", "key"]);
        assert_eq!(words("refreshToken"), ["refresh", "token"]);
    }

    #[test]
    fn luhn_accepts_valid_numbers_only() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(luhn("5500-0000-0000-0004"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(!luhn("1234"));
    }
}
