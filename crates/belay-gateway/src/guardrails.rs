//! One upstream's guards (`[gateway.upstream.guard]`): belay-guard's checks wired into the
//! gateway, in two places.
//!
//! - **Lists** ([`UpstreamGuard::screen`]): every tool the upstream lists is scanned for
//!   poisoned metadata and checked against its pin; a tool at or above `hide_at`, or changed
//!   since it was approved, is held back: left out of the catalog clients see, and its calls
//!   refused. Each newly held tool is audited and logged once.
//! - **Calls** (the chain's guard step, [`Guard`]): arguments against the tool's own schema
//!   and for path traversal, shell metacharacters and secrets on the way in; injection,
//!   secrets and links in the result's text on the way out, each with its configured action.
//!
//! A guard sees only its own upstream's configuration and traffic. The compiled rule tables
//! are shared by every upstream ([`engines`]); argument schemas are compiled once per
//! listed definition.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock, RwLock},
    time::Duration,
};

use belay_guard::{
    ArgumentGuard, Finding, InjectionGuard, LinkGuard, MetadataGuard, SecretKind, SecretScanner,
};
use rmcp::model::Tool;

use crate::{
    Error,
    chain::{AuditRecord, AuditSink, CallContext, Decision, GuardAction, Outcome, Verdict},
    metrics::Metrics,
    pins::{PinCheck, PinStore},
    spec::{CheckAction, GuardSpec, MetadataAction, SecretAction},
};

/// The rule tables every upstream shares: compiled once per process.
struct Engines {
    metadata: MetadataGuard,
    injection: InjectionGuard,
}

fn engines() -> Result<&'static Engines, Error> {
    static ENGINES: OnceLock<Result<Engines, String>> = OnceLock::new();
    ENGINES
        .get_or_init(|| {
            Ok(Engines {
                metadata: MetadataGuard::new().map_err(|e| e.to_string())?,
                injection: InjectionGuard::new().map_err(|e| e.to_string())?,
            })
        })
        .as_ref()
        .map_err(|e| Error::Store(format!("cannot compile the guard rules: {e}")))
}

/// Where the audit records of held-back tools go, and where detections are counted.
#[derive(Clone)]
pub(crate) struct Reporting {
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) metrics: Option<Arc<Metrics>>,
}

/// Why a tool is held back.
#[derive(Debug, Clone, PartialEq)]
struct Held {
    reason: String,
    verdict: Verdict,
}

/// The outcome of the last screening: tools held back, and each visible tool's argument
/// checks.
#[derive(Default)]
struct Screened {
    /// Whether the upstream's tools were screened at all (not before its first list, when
    /// it is not connected and calls fail anyway).
    done: bool,
    /// Every tool the upstream listed (visible or not), by name.
    listed: HashMap<String, ()>,
    held: HashMap<String, Held>,
    arguments: HashMap<String, Arc<ArgumentGuard>>,
}

/// One upstream's guards.
pub(crate) struct UpstreamGuard {
    upstream: String,
    spec: GuardSpec,
    engines: &'static Engines,
    secrets: Option<SecretScanner>,
    links: Option<LinkGuard>,
    /// Checks arguments for traversal and shell metacharacters when a tool's own schema
    /// is unknown or does not compile.
    schemaless: Option<Arc<ArgumentGuard>>,
    pins: Option<PinStore>,
    reporting: Reporting,
    screened: RwLock<Arc<Screened>>,
    /// Prompts (by name) and resources and templates (by URI) held back for their
    /// descriptions.
    held_others: RwLock<Arc<HashMap<String, Held>>>,
}

impl std::fmt::Debug for UpstreamGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamGuard")
            .field("upstream", &self.upstream)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// belay-guard's secret kinds for the labels `secret_kinds` names (empty: all).
fn secret_kinds(labels: &[String]) -> Vec<SecretKind> {
    SecretKind::ALL
        .iter()
        .copied()
        .filter(|k| labels.is_empty() || labels.iter().any(|l| l == k.label()))
        .collect()
}

fn verdict(guard: &'static str, finding: &Finding, action: GuardAction) -> Verdict {
    Verdict {
        guard,
        rule: finding.rule.to_owned(),
        kind: finding.kind.as_str(),
        severity: finding.severity.as_str(),
        action,
        field: (!finding.field.is_empty()).then(|| finding.field.clone()),
    }
}

impl UpstreamGuard {
    /// The guards `spec` configures for `upstream`, or `None` when every check is off.
    /// Pinning needs `pins`.
    pub(crate) fn new(
        upstream: &str,
        spec: GuardSpec,
        pins: Option<PinStore>,
        reporting: Reporting,
    ) -> Result<Option<Self>, Error> {
        if spec.is_off() {
            return Ok(None);
        }
        let uses_secrets =
            spec.secrets != SecretAction::Off || spec.secrets_in_arguments != CheckAction::Off;
        let secrets = match uses_secrets {
            true => Some(
                SecretScanner::builder()
                    .kinds(&secret_kinds(&spec.secret_kinds))
                    .build()?,
            ),
            false => None,
        };
        let links = match spec.links {
            CheckAction::Off => None,
            _ => Some(LinkGuard::new(&spec.allowed_hosts)?),
        };
        let schemaless = match spec.arguments {
            CheckAction::Off => None,
            _ => Some(Arc::new(ArgumentGuard::new(&serde_json::json!({}))?)),
        };
        Ok(Some(Self {
            upstream: upstream.to_owned(),
            engines: engines()?,
            secrets,
            links,
            schemaless,
            pins: pins.filter(|_| spec.pin),
            spec,
            reporting,
            screened: RwLock::default(),
            held_others: RwLock::default(),
        }))
    }

    fn screened(&self) -> Arc<Screened> {
        self.screened
            .read()
            .map_or_else(|e| e.into_inner().clone(), |s| s.clone())
    }

    /// The tools of `listed` clients may see; the others are held back (and audited once).
    pub(crate) async fn screen(&self, listed: &[Tool]) -> Vec<Tool> {
        let before = self.screened();
        let mut next = Screened {
            done: true,
            ..Screened::default()
        };
        let mut visible = Vec::with_capacity(listed.len());
        let mut reports = Vec::new();
        for tool in listed {
            let name = tool.name.to_string();
            next.listed.insert(name.clone(), ());
            let plain: belay_guard::Tool = serde_json::to_value(tool)
                .and_then(serde_json::from_value)
                .unwrap_or_else(|_| belay_guard::Tool {
                    name: name.clone(),
                    ..Default::default()
                });
            let (held, flagged) = self.judge(&plain).await;
            if self.spec.arguments != CheckAction::Off {
                match ArgumentGuard::new(&plain.input_schema) {
                    Ok(guard) => {
                        next.arguments.insert(name.clone(), Arc::new(guard));
                    }
                    Err(e) => tracing::warn!(
                        upstream = %self.upstream, tool = %name, error = %e,
                        "the tool's input schema does not compile; its arguments are checked \
                         for traversal and shell metacharacters only"
                    ),
                }
            }
            match held {
                Some(held) => {
                    if before.held.get(&name) != Some(&held) {
                        tracing::warn!(upstream = %self.upstream, tool = %name, reason = %held.reason,
                            "tool held back");
                        reports.push((
                            name.clone(),
                            held.reason.clone(),
                            vec![held.verdict.clone()],
                        ));
                    }
                    next.held.insert(name, held);
                }
                None => {
                    if !flagged.is_empty() && !before.listed.contains_key(&name) {
                        reports.push((name.clone(), String::new(), flagged));
                    }
                    visible.push(tool.clone());
                }
            }
        }
        match self.screened.write() {
            Ok(mut slot) => *slot = Arc::new(next),
            Err(e) => *e.into_inner() = Arc::new(next),
        }
        for (tool, reason, verdicts) in reports {
            self.report("tools/list", tool, reason, verdicts).await;
        }
        visible
    }

    /// The prompts, resources and templates of `catalog` clients may see: those whose
    /// descriptions (and prompt arguments' descriptions) reach `hide_at` are held back
    /// (and audited once) when `metadata = "hide"`.
    pub(crate) async fn screen_others(&self, catalog: &mut crate::upstream::Catalog) {
        if self.spec.metadata != MetadataAction::Hide {
            return;
        }
        let before = self
            .held_others
            .read()
            .map_or_else(|e| e.into_inner().clone(), |h| h.clone());
        let mut held = HashMap::new();
        let mut judge = |key: &str, texts: Vec<(String, &str)>| -> bool {
            let worst = texts
                .iter()
                .flat_map(|(field, text)| self.engines.metadata.scan_text(field, text))
                .filter(|f| f.severity >= self.spec.hide_at)
                .max_by(|a, b| a.score.total_cmp(&b.score));
            let Some(worst) = worst else { return true };
            let reason = format!(
                "its description looks poisoned ({}, {}): {}",
                worst.rule, worst.severity, worst.explanation
            );
            let verdict = verdict("metadata", &worst, GuardAction::Hidden);
            held.insert(key.to_owned(), Held { reason, verdict });
            false
        };
        catalog.prompts.retain(|p| {
            let mut texts: Vec<(String, &str)> = p
                .description
                .as_deref()
                .map(|d| ("description".to_owned(), d))
                .into_iter()
                .collect();
            for (i, a) in p.arguments.iter().flatten().enumerate() {
                if let Some(d) = a.description.as_deref() {
                    texts.push((format!("/arguments/{i}/description"), d));
                }
            }
            judge(&p.name, texts)
        });
        catalog.resources.retain(|r| {
            let texts = r
                .description
                .as_deref()
                .map(|d| ("description".to_owned(), d));
            judge(&r.uri, texts.into_iter().collect())
        });
        catalog.templates.retain(|t| {
            let texts = t
                .description
                .as_deref()
                .map(|d| ("description".to_owned(), d));
            judge(&t.uri_template, texts.into_iter().collect())
        });
        let reports: Vec<(String, Held)> = held
            .iter()
            .filter(|(key, h)| before.get(*key) != Some(h))
            .map(|(k, h)| (k.clone(), h.clone()))
            .collect();
        match self.held_others.write() {
            Ok(mut slot) => *slot = Arc::new(held),
            Err(e) => *e.into_inner() = Arc::new(held),
        }
        for (key, h) in reports {
            tracing::warn!(upstream = %self.upstream, name = %key, reason = %h.reason, "held back");
            self.report("list", key, h.reason, vec![h.verdict]).await;
        }
    }

    /// Whether `tool` is held back, and why; and what was flagged without holding it.
    async fn judge(&self, tool: &belay_guard::Tool) -> (Option<Held>, Vec<Verdict>) {
        let mut flagged = Vec::new();
        if self.spec.metadata != MetadataAction::Off {
            let findings = self.engines.metadata.scan_tool(tool);
            let worst = findings
                .iter()
                .filter(|f| f.severity >= self.spec.hide_at)
                .max_by(|a, b| a.score.total_cmp(&b.score));
            if let Some(worst) = worst {
                if self.spec.metadata == MetadataAction::Hide {
                    let reason = format!(
                        "its description looks poisoned ({}, {}): {}",
                        worst.rule, worst.severity, worst.explanation
                    );
                    let verdict = verdict("metadata", worst, GuardAction::Hidden);
                    return (Some(Held { reason, verdict }), flagged);
                }
                flagged.push(verdict("metadata", worst, GuardAction::Flagged));
            }
        }
        if let Some(pins) = &self.pins {
            let fingerprint = belay_guard::fingerprint(tool);
            let definition = serde_json::to_string(tool).unwrap_or_default();
            match pins
                .check(&self.upstream, &tool.name, &fingerprint, &definition)
                .await
            {
                Ok(PinCheck::Pinned | PinCheck::Same) => {}
                Ok(PinCheck::Changed { .. }) => {
                    let reason = format!(
                        "its definition changed since it was approved; see `belay gateway pins` \
                         and run `belay gateway approve {} {}` to accept the change",
                        self.upstream, tool.name
                    );
                    let verdict = Verdict {
                        guard: "pinning",
                        rule: "pinning.changed".into(),
                        kind: "rug_pull",
                        severity: "high",
                        action: GuardAction::Hidden,
                        field: None,
                    };
                    return (Some(Held { reason, verdict }), flagged);
                }
                Err(e) => {
                    // Fail closed: a tool whose pin cannot be checked is not shown.
                    let reason = format!("its pin cannot be checked: {e}");
                    let verdict = Verdict {
                        guard: "pinning",
                        rule: "pinning.unavailable".into(),
                        kind: "rug_pull",
                        severity: "high",
                        action: GuardAction::Hidden,
                        field: None,
                    };
                    return (Some(Held { reason, verdict }), flagged);
                }
            }
        }
        (None, flagged)
    }

    /// Audits one screening outcome as a list record (`tools/list`, or `list` for prompts,
    /// resources and templates) naming what was screened.
    async fn report(
        &self,
        method: &'static str,
        name: String,
        reason: String,
        verdicts: Vec<Verdict>,
    ) {
        let ctx = CallContext {
            caller: None,
            session: None,
            upstream: self.upstream.clone(),
            method,
            target: Some(name),
            arguments: None,
        };
        if let Some(metrics) = &self.reporting.metrics {
            metrics.record_verdicts(&self.upstream, &verdicts);
        }
        let outcome = match reason.is_empty() {
            true => Outcome::Answered,
            false => Outcome::Blocked(format!("tool held back: {reason}")),
        };
        let record = AuditRecord {
            context: ctx,
            decision: Decision::Allow { rule: None },
            outcome,
            latency: Duration::ZERO,
            verdicts,
        };
        if let Err(why) = self.reporting.audit.record(record).await {
            tracing::error!(upstream = %self.upstream, %why, "cannot audit a held-back tool");
        }
    }
}

mod calls;
mod texts;

#[cfg(test)]
mod tests;
