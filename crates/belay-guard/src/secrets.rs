//! Personal data and credentials in text, validated where a checksum exists (Luhn for cards,
//! mod 97 for IBANs, the SSA's rules for US SSNs, octet ranges for IPs), and their redaction
//! to `[redacted:LABEL]`. One place for these patterns: belay-audit's redaction uses it.

use std::borrow::Cow;

use regex::{Regex, RegexSet};

use crate::finding::{Finding, Kind, Span};

/// How every redaction starts (`[redacted:LABEL]`), so a client can tell a person a value was
/// taken out.
pub const REDACTED_PREFIX: &str = "[redacted:";

/// One kind of personal datum or credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretKind {
    /// A PEM private key block.
    PrivateKey,
    /// An `Authorization: Bearer …` credential.
    Bearer,
    /// A JSON Web Token.
    Jwt,
    /// AWS access key id or secret access key.
    Aws,
    /// Azure storage key, SAS signature or Entra ID client secret.
    Azure,
    /// Google Cloud API key or OAuth access token.
    Gcp,
    /// GitHub token.
    Github,
    /// Slack token or webhook URL.
    Slack,
    /// OpenAI (or Anthropic) API key.
    OpenAi,
    /// Stripe secret, restricted, publishable or webhook key.
    Stripe,
    /// GitLab, npm or Hugging Face token.
    OtherToken,
    /// E-mail address.
    Email,
    /// IBAN that passes mod 97.
    Iban,
    /// Payment card number that passes Luhn.
    Card,
    /// US social security number.
    Ssn,
    /// Phone number in international or US form.
    Phone,
    /// IPv4 or IPv6 address.
    IpAddress,
}

impl SecretKind {
    /// Every kind, in the order overlapping matches are resolved (earlier wins).
    pub const ALL: &'static [SecretKind] = &[
        Self::PrivateKey,
        Self::Bearer,
        Self::Jwt,
        Self::Aws,
        Self::Azure,
        Self::Gcp,
        Self::Github,
        Self::Slack,
        Self::OpenAi,
        Self::Stripe,
        Self::OtherToken,
        Self::Email,
        Self::Iban,
        Self::Card,
        Self::Ssn,
        Self::Phone,
        Self::IpAddress,
    ];

    /// The placeholder label: `[redacted:LABEL]`. Vendor keys share `api_key`.
    pub fn label(self) -> &'static str {
        match self {
            Self::PrivateKey => "private_key",
            Self::Bearer => "bearer",
            Self::Jwt => "jwt",
            Self::Aws
            | Self::Azure
            | Self::Gcp
            | Self::Github
            | Self::Slack
            | Self::OpenAi
            | Self::Stripe
            | Self::OtherToken => "api_key",
            Self::Email => "email",
            Self::Iban => "iban",
            Self::Card => "card",
            Self::Ssn => "ssn",
            Self::Phone => "phone",
            Self::IpAddress => "ip",
        }
    }

    fn spec(self) -> (&'static str, f32, &'static str, &'static str) {
        match self {
            Self::PrivateKey => (
                "secret.private_key",
                0.98,
                r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
                "a private key",
            ),
            Self::Bearer => (
                "secret.bearer",
                0.85,
                r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*",
                "a bearer credential",
            ),
            Self::Jwt => (
                "secret.jwt",
                0.85,
                r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
                "a JSON Web Token",
            ),
            Self::Aws => (
                "secret.aws",
                0.95,
                r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b|(?i:aws_?secret_?access_?key)[\x22'\s:=]+[A-Za-z0-9/+=]{40}",
                "an AWS access key",
            ),
            Self::Azure => (
                "secret.azure",
                0.95,
                r"AccountKey=[A-Za-z0-9+/]{86}==|\bsig=[A-Za-z0-9%/+]{40,}={0,2}|\b[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}\b",
                "an Azure key or signature",
            ),
            Self::Gcp => (
                "secret.gcp",
                0.95,
                r"\bAIza[0-9A-Za-z_-]{35}\b|\bya29\.[0-9A-Za-z_-]{20,}",
                "a Google Cloud key or token",
            ),
            Self::Github => (
                "secret.github",
                0.95,
                r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}\b|\bgithub_pat_[A-Za-z0-9_]{20,}",
                "a GitHub token",
            ),
            Self::Slack => (
                "secret.slack",
                0.95,
                r"\bxox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+",
                "a Slack token or webhook",
            ),
            Self::OpenAi => (
                "secret.openai",
                0.95,
                r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{16,}",
                "an OpenAI or Anthropic API key",
            ),
            Self::Stripe => (
                "secret.stripe",
                0.95,
                r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|\bwhsec_[A-Za-z0-9]{24,}",
                "a Stripe key",
            ),
            Self::OtherToken => (
                "secret.token",
                0.9,
                r"\bglpat-[A-Za-z0-9_-]{20}|\bnpm_[A-Za-z0-9]{36}|\bhf_[A-Za-z0-9]{30,}",
                "a GitLab, npm or Hugging Face token",
            ),
            Self::Email => (
                "pii.email",
                0.4,
                r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}",
                "an e-mail address",
            ),
            Self::Iban => (
                "pii.iban",
                0.7,
                r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
                "an IBAN (mod 97 checked)",
            ),
            Self::Card => (
                "pii.card",
                0.85,
                r"\b\d(?:[ -]?\d){12,18}\b",
                "a payment card number (Luhn checked)",
            ),
            Self::Ssn => (
                "pii.ssn",
                0.85,
                r"\b\d{3}-\d{2}-\d{4}\b",
                "a US social security number",
            ),
            Self::Phone => (
                "pii.phone",
                0.4,
                r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}\b|\(\d{3}\)\s?\d{3}[ .-]\d{4}\b|\b\d{3}[.-]\d{3}[.-]\d{4}\b",
                "a phone number",
            ),
            Self::IpAddress => (
                "pii.ip",
                0.25,
                r"\b(?:\d{1,3}\.){3}\d{1,3}\b|(?i:\b(?:[0-9a-f]{1,4}:){1,7}(?::?[0-9a-f]{1,4}){1,7}\b)",
                "an IP address",
            ),
        }
    }

    /// The checksum or shape check a match must pass.
    fn valid(self, m: &str) -> bool {
        match self {
            Self::Card => luhn(m),
            Self::Iban => iban_mod97(m),
            Self::Ssn => ssn_valid(m),
            Self::Phone => (8..=15).contains(&m.chars().filter(char::is_ascii_digit).count()),
            Self::IpAddress => m.parse::<std::net::IpAddr>().is_ok(),
            _ => true,
        }
    }
}

/// A compiled set of detectors; build once, share (cloning shares the compiled patterns).
#[derive(Debug, Clone)]
pub struct SecretScanner {
    detectors: Vec<Detector>,
    prefilter: RegexSet,
}

#[derive(Debug, Clone)]
struct Detector {
    kind: Option<SecretKind>,
    rule: &'static str,
    label: String,
    score: f32,
    explain: String,
    regex: Regex,
}

/// Chooses the kinds a [`SecretScanner`] looks for and adds named patterns.
#[derive(Debug, Default)]
pub struct SecretScannerBuilder {
    kinds: Option<Vec<SecretKind>>,
    extra: Vec<(String, Regex)>,
}

impl SecretScannerBuilder {
    /// Look only for `kinds` (default: [`SecretKind::ALL`]).
    pub fn kinds(mut self, kinds: &[SecretKind]) -> Self {
        self.kinds = Some(kinds.to_vec());
        self
    }

    /// Also redact each match of `regex` as `[redacted:NAME]` (after the built-in kinds).
    pub fn pattern(mut self, name: &str, regex: &str) -> Result<Self, crate::Error> {
        self.extra.push((name.to_owned(), Regex::new(regex)?));
        Ok(self)
    }

    /// Compiles the scanner.
    pub fn build(self) -> Result<SecretScanner, crate::Error> {
        let kinds = self.kinds.unwrap_or_else(|| SecretKind::ALL.to_vec());
        let mut detectors = Vec::new();
        for kind in SecretKind::ALL.iter().filter(|k| kinds.contains(k)) {
            let (rule, score, pattern, explain) = kind.spec();
            detectors.push(Detector {
                kind: Some(*kind),
                rule,
                label: kind.label().to_owned(),
                score,
                explain: explain.to_owned(),
                regex: Regex::new(&ascii_classes(pattern))?,
            });
        }
        for (name, regex) in self.extra {
            detectors.push(Detector {
                kind: None,
                rule: "secret.custom",
                explain: format!("a match of the configured pattern {name:?}"),
                label: name,
                score: 0.8,
                regex,
            });
        }
        let prefilter = RegexSet::new(detectors.iter().map(|d| d.regex.as_str()))?;
        Ok(SecretScanner {
            detectors,
            prefilter,
        })
    }
}

impl SecretScanner {
    /// Every built-in kind.
    pub fn new() -> Result<Self, crate::Error> {
        Self::builder().build()
    }

    /// A builder to choose kinds and add patterns.
    pub fn builder() -> SecretScannerBuilder {
        SecretScannerBuilder::default()
    }

    /// Every valid, non-overlapping match in `text` (earlier kinds win overlaps).
    pub fn find(&self, text: &str) -> Vec<Finding> {
        self.matches(text)
            .into_iter()
            .map(|(d, s, e)| {
                let kind = match d.kind {
                    Some(
                        SecretKind::Email
                        | SecretKind::Iban
                        | SecretKind::Card
                        | SecretKind::Ssn
                        | SecretKind::Phone
                        | SecretKind::IpAddress,
                    ) => Kind::Pii,
                    _ => Kind::Secret,
                };
                Finding::new(
                    d.rule,
                    kind,
                    d.score,
                    Span::of(text, s, e),
                    format!("{} ({})", d.explain, d.label),
                )
            })
            .collect()
    }

    /// `text` with every match replaced by `[redacted:LABEL]`.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let found = self.matches(text);
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (d, s, e) in found {
            out.push_str(&text[at..s]);
            out.push_str(REDACTED_PREFIX);
            out.push_str(&d.label);
            out.push(']');
            at = e;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// Accepted matches sorted by start, each claiming its bytes before later detectors.
    fn matches(&self, text: &str) -> Vec<(&Detector, usize, usize)> {
        let mut taken: Vec<(&Detector, usize, usize)> = Vec::new();
        for i in self.prefilter.matches(text).iter() {
            let d = &self.detectors[i];
            for m in d.regex.find_iter(text) {
                if m.is_empty() || !d.kind.is_none_or(|k| k.valid(m.as_str())) {
                    continue;
                }
                if taken.iter().any(|(_, s, e)| m.start() < *e && *s < m.end()) {
                    continue;
                }
                taken.push((d, m.start(), m.end()));
            }
        }
        taken.sort_by_key(|(_, s, _)| *s);
        taken
    }
}

/// Built-in patterns with ASCII word boundaries and digits: the lazy DFA gives up on Unicode
/// word boundaries in non-ASCII text, and every credential and number here is ASCII.
fn ascii_classes(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)").replace(r"\d", "[0-9]")
}

/// The Luhn checksum over the digits of `text` (separators ignored), 13 to 19 digits.
pub(crate) fn luhn(text: &str) -> bool {
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
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1.
pub(crate) fn iban_mod97(text: &str) -> bool {
    let compact: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let mut rem: u32 = 0;
    for c in compact[4..].iter().chain(&compact[..4]) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem == 1
}

/// Area not 000, 666 or 9xx; group not 00; serial not 0000.
fn ssn_valid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    matches!(parts.as_slice(), [a, g, s]
        if *a != "000" && *a != "666" && !a.starts_with('9') && *g != "00" && *s != "0000")
}
