//! Alert rules over the audit stream (`[[alerts.rule]]` in belay.toml): a signal (refused
//! tokens, denials, rate-limit hits, errors, the error rate, guard blocks or detections)
//! counted over a sliding window, per client, user or upstream, against a threshold. A rule
//! that crosses its threshold opens one incident for that group and sends one `firing`
//! notice; while it stays over nothing more is sent; when it falls back one `resolved`
//! notice closes it. Notices go to webhooks ([`notify`]) in generic JSON, Slack or Teams
//! form.
//!
//! [`Evaluator`] is pure (records and times in, notices out), so incidents are tested with
//! made-up times; [`spawn`] runs it on the live audit log.

mod evaluate;
pub mod notify;

pub use evaluate::{Evaluator, Notice, Status, sample};

use serde::{Deserialize, Serialize};

use crate::Error;

/// `[alerts]` in belay.toml.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSpec {
    /// `[[alerts.rule]]`.
    pub rule: Vec<RuleSpec>,
    /// `[[alerts.webhook]]`.
    pub webhook: Vec<WebhookSpec>,
}

/// What a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Requests refused for want of a valid token (sign-in failures).
    Unauthenticated,
    /// Requests a policy rule denied.
    Denied,
    /// Requests a rate limit refused.
    RateLimited,
    /// Requests that ended in an error.
    Errors,
    /// Percent of requests that ended in an error or were refused.
    ErrorRate,
    /// Guard verdicts that blocked or hid something (a poisoned tool, an injection).
    GuardBlocked,
    /// Any guard verdict.
    GuardDetection,
    /// A state, not a count: a tool whose definition differs from its pin and waits for
    /// approval (rug-pull pinning holds it back), one incident per `upstream/tool`,
    /// resolved when approved (or the upstream goes back to the pinned definition).
    UnapprovedTool,
    /// A state, not a count: a tool that an upstream already known started listing later
    /// (pinned on first sight, trusted on first use) within the last `window_secs`, one
    /// incident per `upstream/tool`, resolved when the window has passed. The tools of an
    /// upstream's first list do not count.
    NewTool,
    /// A state, not a count: the audit store's hash chain fails verification (checked
    /// every `window_secs`, at least every 10 s); resolved when it verifies again.
    AuditChainBroken,
}

impl Signal {
    /// Whether the signal is a state the runner checks ([`Evaluator::observe_state`])
    /// rather than audit records counted over a window.
    pub fn is_state(self) -> bool {
        matches!(
            self,
            Self::UnapprovedTool | Self::NewTool | Self::AuditChainBroken
        )
    }
}

/// What a rule counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Everything together.
    #[default]
    All,
    /// Per OAuth client.
    Client,
    /// Per user.
    User,
    /// Per upstream.
    Upstream,
}

/// One `[[alerts.rule]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Its name (`belay alerts test NAME`).
    pub name: String,
    /// What it counts.
    pub when: Signal,
    /// Fires when the count (or, for `error_rate`, the percent) is above this; states
    /// fire whenever they hold.
    #[serde(default)]
    pub threshold: f64,
    /// The sliding window, in seconds.
    #[serde(default = "default_window")]
    pub window_secs: u64,
    /// Counted per client, user or upstream, or all together.
    #[serde(default)]
    pub per: Group,
    /// `error_rate` only: fewer requests than this in the window never fire.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// The webhooks (by name) its notices go to; empty: every webhook.
    #[serde(default)]
    pub webhooks: Vec<String>,
}

fn default_window() -> u64 {
    60
}

fn default_min_requests() -> u64 {
    10
}

/// The body a webhook expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Belay's own JSON (the [`Notice`]).
    #[default]
    Json,
    /// A Slack incoming webhook (`text`).
    Slack,
    /// A Microsoft Teams incoming webhook (a message card).
    Teams,
}

/// One `[[alerts.webhook]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Its name, which rules refer to.
    pub name: String,
    /// Where notices are POSTed.
    pub url: String,
    /// The body's form.
    #[serde(default)]
    pub format: Format,
}

impl AlertsSpec {
    /// Checks names, thresholds, windows and webhook references.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: String| Err(Error::Config(format!("[alerts] {why}")));
        for (i, rule) in self.rule.iter().enumerate() {
            if rule.name.trim().is_empty() {
                return bad(format!("rule {i} has no name"));
            }
            if self.rule[..i].iter().any(|r| r.name == rule.name) {
                return bad(format!("two rules are called `{}`", rule.name));
            }
            if rule.window_secs == 0 || rule.window_secs > 7 * 24 * 3600 {
                return bad(format!(
                    "rule `{}`: window_secs must be 1 to 604800",
                    rule.name
                ));
            }
            if !rule.threshold.is_finite() || rule.threshold < 0.0 {
                return bad(format!("rule `{}`: threshold must be 0 or more", rule.name));
            }
            for hook in &rule.webhooks {
                if !self.webhook.iter().any(|w| &w.name == hook) {
                    return bad(format!("rule `{}` names no webhook `{hook}`", rule.name));
                }
            }
        }
        for hook in &self.webhook {
            let url = url::Url::parse(&hook.url)
                .map_err(|e| Error::Config(format!("[alerts] webhook `{}`: {e}", hook.name)))?;
            if !matches!(url.scheme(), "http" | "https") {
                return bad(format!("webhook `{}` must be an http(s) URL", hook.name));
            }
        }
        Ok(())
    }

    /// The rule called `name`.
    pub fn rule(&self, name: &str) -> Option<&RuleSpec> {
        self.rule.iter().find(|r| r.name == name)
    }

    /// The webhooks `rule`'s notices go to.
    pub fn webhooks_of(&self, rule: &str) -> Vec<&WebhookSpec> {
        let named = self
            .rule(rule)
            .map(|r| r.webhooks.as_slice())
            .unwrap_or(&[]);
        self.webhook
            .iter()
            .filter(|w| named.is_empty() || named.contains(&w.name))
            .collect()
    }
}
