//! The chain's guard step for one upstream's calls ([`Guard`]): arguments against the
//! tool's own schema and for path traversal, shell metacharacters and secrets on the way in;
//! injection, secrets and links in the result's text on the way out, each with its
//! configured action.

use belay_guard::{Action, Applied, Finding};
use serde_json::Value;

use super::{
    UpstreamGuard,
    texts::{strings_mut, texts_mut},
    verdict,
};
use crate::{
    chain::{CallContext, Guard, GuardAction, Stop, Verdict},
    spec::{CheckAction, InjectionAction, MetadataAction, SecretAction},
};

impl UpstreamGuard {
    /// What `findings` come to under `action` at `block_at`: verdicts for those at or above
    /// it, and whether to block.
    fn weigh(
        &self,
        guard: &'static str,
        findings: &[Finding],
        action: CheckAction,
        verdicts: &mut Vec<Verdict>,
    ) -> Option<String> {
        let mut blocked = None;
        for f in findings.iter().filter(|f| f.severity >= self.spec.block_at) {
            let act = match action {
                CheckAction::Block => GuardAction::Blocked,
                _ => GuardAction::Flagged,
            };
            verdicts.push(verdict(guard, f, act));
            if act == GuardAction::Blocked && blocked.is_none() {
                blocked = Some(f.explanation.clone());
            }
        }
        blocked
    }

    fn checks_results(&self) -> bool {
        self.spec.injection != InjectionAction::Off
            || self.spec.secrets != SecretAction::Off
            || self.links.is_some()
    }

    /// Runs the result checks on one text; `Err` withholds the whole result.
    fn inspect_text(
        &self,
        text: &mut String,
        field: String,
        verdicts: &mut Vec<Verdict>,
    ) -> Result<(), String> {
        if let Some(action) = injection_action(self.spec.injection) {
            let (report, applied) = self.engines.injection.apply(
                text,
                action.unwrap_or(Action::Block),
                self.spec.injection_threshold,
            );
            if report.score >= self.spec.injection_threshold {
                let act = match (&applied, action) {
                    (_, None) => GuardAction::Flagged,
                    (Applied::Blocked(_), _) => GuardAction::Blocked,
                    (_, Some(Action::Annotate)) => GuardAction::Annotated,
                    _ => GuardAction::Redacted,
                };
                let strongest = report
                    .findings
                    .iter()
                    .max_by(|a, b| a.score.total_cmp(&b.score));
                verdicts.push(Verdict {
                    guard: "injection",
                    rule: strongest.map_or("injection", |f| f.rule).to_owned(),
                    kind: "prompt_injection",
                    severity: report.severity.as_str(),
                    action: act,
                    field: Some(field.clone()),
                });
                match (applied, action) {
                    (_, None) | (Applied::Unchanged, _) => {}
                    (Applied::Rewritten(new), _) => *text = new,
                    (Applied::Blocked(why), _) => return Err(why),
                }
            }
        }
        if let (Some(scanner), Some(action)) = (&self.secrets, secret_action(self.spec.secrets)) {
            let found = scanner.find(text);
            if !found.is_empty() {
                let act = match action {
                    SecretAction::Block => GuardAction::Blocked,
                    SecretAction::Redact => GuardAction::Redacted,
                    _ => GuardAction::Flagged,
                };
                for f in &found {
                    let mut v = verdict("secrets", f, act);
                    v.field = Some(field.clone());
                    verdicts.push(v);
                }
                match action {
                    SecretAction::Block => {
                        let kinds: Vec<&str> = found.iter().map(|f| f.kind.as_str()).collect();
                        return Err(format!("the result holds secrets ({})", kinds.join(", ")));
                    }
                    SecretAction::Redact => *text = scanner.redact(text).into_owned(),
                    _ => {}
                }
            }
        }
        if let Some(links) = &self.links {
            let mut found = links.scan(text);
            for f in &mut found {
                f.field = field.clone();
            }
            if let Some(why) = self.weigh("links", &found, self.spec.links, verdicts) {
                return Err(why);
            }
        }
        Ok(())
    }
}

/// `None`: no scan; `Some(None)`: scan and record only; `Some(Some(a))`: act.
fn injection_action(action: InjectionAction) -> Option<Option<Action>> {
    match action {
        InjectionAction::Off => None,
        InjectionAction::Flag => Some(None),
        InjectionAction::Annotate => Some(Some(Action::Annotate)),
        InjectionAction::Redact => Some(Some(Action::Redact)),
        InjectionAction::Block => Some(Some(Action::Block)),
    }
}

fn secret_action(action: SecretAction) -> Option<SecretAction> {
    (action != SecretAction::Off).then_some(action)
}

impl Guard for UpstreamGuard {
    fn inspect_request(
        &self,
        ctx: &mut CallContext,
        verdicts: &mut Vec<Verdict>,
    ) -> Result<(), Stop> {
        if matches!(ctx.method, "prompts/get" | "resources/read") {
            let held_others = self
                .held_others
                .read()
                .map_or_else(|e| e.into_inner().clone(), |h| h.clone());
            let name = ctx.target.as_deref().unwrap_or_default();
            // A resource read may name a URI that only a held template matched: the
            // template's literal head decides, as routing does.
            let held = held_others.get(name).or_else(|| {
                held_others
                    .iter()
                    .find(|(template, _)| {
                        template.contains('{')
                            && name.starts_with(template.split('{').next().unwrap_or(template))
                    })
                    .map(|(_, h)| h)
            });
            if let Some(held) = held {
                let mut v = held.verdict.clone();
                v.action = GuardAction::Blocked;
                verdicts.push(v);
                return Err(format!("`{name}` is held back: {}", held.reason).into());
            }
            return Ok(());
        }
        if ctx.method != "tools/call" {
            return Ok(());
        }
        let name = ctx.target.clone().unwrap_or_default();
        let screened = self.screened();
        let screens_tools = self.spec.metadata != MetadataAction::Off || self.pins.is_some();
        if let Some(held) = screened.held.get(&name) {
            let mut v = held.verdict.clone();
            v.action = GuardAction::Blocked;
            verdicts.push(v);
            return Err(format!("tool `{name}` is held back: {}", held.reason).into());
        }
        if screens_tools && screened.done && !screened.listed.contains_key(&name) {
            // Not screened, so not called: the upstream never listed it (an unknown name,
            // or a tool it keeps out of its list).
            return Err(Stop::not_found(format!(
                "tool `{name}` not found: upstream `{}` does not list it",
                self.upstream
            )));
        }
        let arguments = Value::Object(ctx.arguments.clone().unwrap_or_default());
        if self.spec.arguments != CheckAction::Off {
            let findings = screened
                .arguments
                .get(&name)
                .or(self.schemaless.as_ref())
                .map(|guard| guard.check(&arguments))
                .unwrap_or_default();
            if let Some(why) = self.weigh("arguments", &findings, self.spec.arguments, verdicts) {
                return Err(why.into());
            }
        }
        if let Some(scanner) = &self.secrets
            && self.spec.secrets_in_arguments != CheckAction::Off
        {
            let mut arguments = arguments;
            let mut found = Vec::new();
            let mut texts = Vec::new();
            strings_mut(&mut arguments, String::new(), &mut texts);
            for (at, text) in texts {
                found.extend(scanner.find(text).into_iter().map(|mut f| {
                    f.field = at.clone();
                    f
                }));
            }
            let act = match self.spec.secrets_in_arguments {
                CheckAction::Block => GuardAction::Blocked,
                _ => GuardAction::Flagged,
            };
            for f in &found {
                verdicts.push(verdict("secrets", f, act));
            }
            if act == GuardAction::Blocked && !found.is_empty() {
                let kinds: Vec<&str> = found.iter().map(|f| f.kind.as_str()).collect();
                return Err(format!("the arguments hold secrets ({})", kinds.join(", ")).into());
            }
        }
        Ok(())
    }

    fn reads_result(&self, ctx: &CallContext) -> bool {
        self.checks_results()
            && matches!(ctx.method, "tools/call" | "resources/read" | "prompts/get")
    }

    fn inspect_result(
        &self,
        ctx: &CallContext,
        result: &mut Value,
        verdicts: &mut Vec<Verdict>,
    ) -> Result<(), Stop> {
        for (field, text) in texts_mut(ctx.method, result) {
            self.inspect_text(text, field, verdicts)?;
        }
        Ok(())
    }
}
