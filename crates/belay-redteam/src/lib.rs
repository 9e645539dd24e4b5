//! `belay redteam`: a catalogue of attacks run against an MCP server or a gateway in front of
//! servers. Every attack is tagged with the OWASP MCP Top 10 risk it probes and ends
//! [`Outcome::Blocked`], [`Outcome::Detected`] (let through, but flagged: the result came
//! back spotlighted or redacted), [`Outcome::Succeeded`] or [`Outcome::NotApplicable`], with
//! evidence.
//!
//! Nothing in the catalogue can harm the machine it runs on or the target's: commands only
//! `printf` a nonce, paths only read `/etc/passwd` (world-readable), tokens are forged, and
//! the labs' exploits use invented secrets. The attacks that only a vulnerable server lets
//! through are proved against test servers in this crate and against `belay lab` servers.
#![deny(missing_docs)]

mod attacks;
mod session;

use std::{collections::BTreeMap, fmt, time::Duration};

use belay_client::{ConnectOptions, Target, Transport};
pub use belay_labs::owasp::Risk;
use serde::Serialize;

/// How one attack ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The attack worked: the target is vulnerable.
    Succeeded,
    /// The attack got through but was flagged on the way (a result spotlighted or redacted).
    Detected,
    /// The attack was refused or had no effect.
    Blocked,
    /// The attack does not apply to this target (shown, not counted).
    NotApplicable,
}

impl Outcome {
    /// The word shown in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Detected => "detected",
            Outcome::Blocked => "blocked",
            Outcome::NotApplicable => "not applicable",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attack as it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// The OWASP MCP risk it probes.
    pub risk: Risk,
    /// What was tried, in a few words.
    pub attack: String,
    /// The target (its name) it was tried on.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What shows it: the answer, the payload that worked, the defence that refused.
    pub evidence: String,
}

impl Attempt {
    pub(crate) fn new(
        risk: Risk,
        attack: impl Into<String>,
        target: &str,
        outcome: Outcome,
        evidence: impl Into<String>,
    ) -> Self {
        Self {
            risk,
            attack: attack.into(),
            target: target.to_owned(),
            outcome,
            evidence: evidence.into(),
        }
    }
}

/// Everything the red team tried.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The targets attacked, by name.
    pub targets: Vec<String>,
    /// Every attack, in the order run.
    pub attempts: Vec<Attempt>,
    /// What the red team could not try, and why (a sign-in it has no token for).
    pub notes: Vec<String>,
}

impl Report {
    /// Whether any attack succeeded.
    pub fn any_succeeded(&self) -> bool {
        self.attempts
            .iter()
            .any(|a| a.outcome == Outcome::Succeeded)
    }

    /// How many attacks ended `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.attempts
            .iter()
            .filter(|a| a.outcome == outcome)
            .count()
    }
}

/// Why the red team could not run (distinct from attacks that failed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A target could not be reached, started or listed.
    #[error("cannot attack `{target}`: {reason}")]
    Unreachable {
        /// The target's name.
        target: String,
        /// What failed.
        reason: String,
    },
    /// A built-in table is broken (a bug).
    #[error("the red team's own checks failed to build: {0}")]
    Internal(String),
}

/// How to attack.
#[derive(Debug, Clone)]
pub struct Options {
    /// How sessions are opened (sign-ins are refused: tokens come with `token`).
    pub connect: ConnectOptions,
    /// A bearer token sent to HTTP targets, as a signed-in user would.
    pub token: Option<String>,
    /// How long one call or request may take before the target counts as hung.
    pub call_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect: ConnectOptions {
                client_name: "belay redteam".into(),
                ..ConnectOptions::default()
            },
            token: None,
            call_timeout: Duration::from_secs(10),
        }
    }
}

/// The families of attacks, in the order they run per target (the labs' exploits last, once
/// over all targets): what a progress bar counts.
pub const FAMILIES: &[&str] = &[
    "tokens",
    "malformed JSON-RPC",
    "tool poisoning",
    "command injection",
    "schema-breaking arguments",
    "hidden tools",
    "prompt injection",
];

/// How many progress steps [`run`] reports for `targets`.
pub fn steps(targets: &[Target]) -> usize {
    targets.len() * FAMILIES.len() + 1
}

/// Runs the catalogue against every target, then every lab's exploit against all of them;
/// `progress` is called before each family of attacks with its name.
pub async fn run(
    targets: &[Target],
    options: &Options,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Report, Error> {
    let metadata = belay_guard::MetadataGuard::new().map_err(|e| Error::Internal(e.to_string()))?;
    let mut report = Report::default();
    let attacked: Vec<Target> = targets
        .iter()
        .map(|t| with_token(t, options.token.as_deref()))
        .collect();
    for target in &attacked {
        report.targets.push(target.name.clone());
        let name = target.name.as_str();
        let http = http_url(target);
        let token = bearer(target);
        let mut signs_in = false;
        progress(FAMILIES[0]);
        if let Some((url, headers)) = &http {
            let status = attacks::http::reachable(url, headers, options)
                .await
                .map_err(|reason| Error::Unreachable {
                    target: name.to_owned(),
                    reason,
                })?;
            signs_in = status == 401 || status == 403;
            report
                .attempts
                .extend(attacks::tokens::run(name, url, headers, token.as_deref(), options).await);
        }
        progress(FAMILIES[1]);
        if let Some((url, headers)) = &http {
            report
                .attempts
                .extend(attacks::http::malformed(name, url, headers, options).await);
        }
        let session = match session::Session::open(target, options).await {
            Ok(session) => session,
            Err(reason) if signs_in => {
                report.notes.push(format!(
                    "`{name}` asks for a sign-in and no valid token was given ({reason}): \
                     the attacks on its tools need --token or a sign-in (`belay auth login URL`)"
                ));
                for _ in 2..FAMILIES.len() {
                    progress("");
                }
                continue;
            }
            Err(reason) => {
                return Err(Error::Unreachable {
                    target: name.to_owned(),
                    reason,
                });
            }
        };
        progress(FAMILIES[2]);
        report
            .attempts
            .extend(attacks::poisoning::run(name, &session.tools, &metadata));
        progress(FAMILIES[3]);
        report
            .attempts
            .extend(attacks::injection::run(name, &session).await);
        progress(FAMILIES[4]);
        report
            .attempts
            .extend(attacks::schema::run(name, &session).await);
        progress(FAMILIES[5]);
        report
            .attempts
            .extend(attacks::hidden::run(name, &session).await);
        progress(FAMILIES[6]);
        report
            .attempts
            .extend(attacks::prompt::run(name, &session).await);
        session.close().await;
    }
    progress("labs' exploits");
    let label = report.targets.join(", ");
    report
        .attempts
        .extend(attacks::labs::run(&label, &attacked, options).await);
    Ok(report)
}

/// The HTTP status an MCP endpoint answers a plain `ping` with (401 or 403: it asks for a
/// sign-in), or why it gave none.
pub async fn status(
    url: &str,
    headers: &BTreeMap<String, String>,
    options: &Options,
) -> Result<u16, String> {
    attacks::http::reachable(url, headers, options).await
}

/// `target` with `token` as its bearer token (HTTP targets only).
fn with_token(target: &Target, token: Option<&str>) -> Target {
    let mut target = target.clone();
    if let (Some(token), Transport::Http { headers, .. } | Transport::Sse { headers, .. }) =
        (token, &mut target.transport)
    {
        headers.retain(|k, _| !k.eq_ignore_ascii_case("authorization"));
        headers.insert("Authorization".into(), format!("Bearer {token}"));
    }
    target
}

/// The bearer token an HTTP target is called with (`--token`, a sign-in, or its own
/// `Authorization` header in an mcp.json).
fn bearer(target: &Target) -> Option<String> {
    let (Transport::Http { headers, .. } | Transport::Sse { headers, .. }) = &target.transport
    else {
        return None;
    };
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The endpoint and headers of a Streamable HTTP target.
pub fn http_url(target: &Target) -> Option<(String, BTreeMap<String, String>)> {
    match &target.transport {
        Transport::Http { url, headers } => Some((url.clone(), headers.clone())),
        _ => None,
    }
}

/// A fresh random marker, 12 hex digits.
pub(crate) fn nonce() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// One line of at most 160 characters for evidence, control characters shown as spaces.
pub(crate) fn excerpt(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match line.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests;
