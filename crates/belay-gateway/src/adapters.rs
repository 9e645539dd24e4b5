//! The chain's steps over Belay's own parts: [`PolicyDecide`] (belay-policy's [`Policy`]),
//! [`ThrottleLimit`] (its [`Throttle`]) and [`AuditLogSink`] (belay-audit's [`AuditLog`]),
//! and [`Chain::from_spec`], which builds all three from a [`GatewaySpec`].
//!
//! Those crates know nothing of MCP or tokens, so the mapping lives here: a
//! [`belay_auth::Caller`] becomes a [`Principal`], a [`CallContext`] a [`Target`], an
//! [`AuditRecord`] an [`AuditEvent`].

use std::{collections::BTreeSet, sync::Arc};

use belay_audit::{AuditEvent, AuditLog};
use belay_auth::Caller;
use belay_policy::{Clock, Kind, Policy, Principal, Target, Throttle};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::{
    Error, GatewaySpec,
    chain::{
        AUTHENTICATION_RULE, Admission, AuditRecord, AuditSink, BLOCKED, CallContext, Chain,
        DENIED, Decide, Decision, Limit, Outcome, RATE_LIMITED, Refused, UNAUTHENTICATED, Verdict,
    },
};

/// The user id policy and limits see for a request without a signed-in caller (a gateway
/// with `auth = false`). One shared id, so per-user limits still bound anonymous traffic.
pub(crate) const ANONYMOUS: &str = "anonymous";

impl Chain {
    /// The chain `spec` configures: its policy, its rate limits (buckets timed by `clock`),
    /// a signed-in caller required when `spec.auth`, and `audit` (if given) as the sink.
    /// Fails, naming the rule or limit, when the policy or limits cannot work.
    pub fn from_spec(
        spec: &GatewaySpec,
        clock: Arc<dyn Clock>,
        audit: Option<AuditLog>,
    ) -> Result<Self, Error> {
        let mut chain = Self {
            require_caller: spec.auth,
            decide: Arc::new(PolicyDecide::new(Policy::new(&spec.policy)?)),
            limit: Arc::new(ThrottleLimit::new(Throttle::new(
                &spec.rate_limits,
                clock.clone(),
            )?)),
            clock,
            ..Self::default()
        };
        if let Some(log) = audit {
            chain.audit = Arc::new(AuditLogSink::new(log));
        }
        Ok(chain)
    }
}

/// The policy's view of a caller: `sub`, client, scopes, and groups from the `groups` and
/// `roles` claims (a list or one string each). No caller: [`ANONYMOUS`].
pub(crate) fn principal(caller: Option<&Caller>) -> Principal {
    let Some(caller) = caller else {
        return Principal::new(ANONYMOUS);
    };
    let mut groups = BTreeSet::new();
    for claim in ["groups", "roles"] {
        match caller.claims.get(claim) {
            Some(Value::Array(items)) => {
                groups.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            Some(Value::String(one)) => {
                groups.insert(one.clone());
            }
            _ => {}
        }
    }
    Principal {
        user: caller.sub.clone(),
        client_id: caller.client_id.clone(),
        groups,
        scopes: caller.scopes.clone(),
    }
}

/// What the request reaches, by the upstream's own name. A completion names a prompt or a
/// resource URI; a URI has a scheme (`:`), which prompt names (tool-name characters) cannot.
fn kind(ctx: &CallContext) -> Kind {
    match ctx.method {
        "tools/call" => Kind::Tool,
        "prompts/get" => Kind::Prompt,
        "resources/read" => Kind::Resource,
        _ if ctx.target.as_deref().is_some_and(|t| t.contains(':')) => Kind::Resource,
        _ => Kind::Prompt,
    }
}

fn target(ctx: &CallContext) -> Target<'_> {
    Target {
        upstream: &ctx.upstream,
        kind: kind(ctx),
        name: ctx.target.as_deref().unwrap_or(""),
    }
}

/// [`Decide`] over a compiled [`Policy`].
#[derive(Debug, Clone)]
pub struct PolicyDecide {
    policy: Arc<Policy>,
}

impl PolicyDecide {
    /// Decides with `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }
}

impl Decide for PolicyDecide {
    fn decide(&self, ctx: &CallContext) -> Decision {
        let decision = self.policy.decide(
            &principal(ctx.caller.as_deref()),
            &target(ctx),
            ctx.arguments.as_ref(),
        );
        let rule = decision.rule.map(|r| r.to_string());
        if decision.allowed {
            Decision::Allow { rule }
        } else {
            Decision::Deny {
                rule,
                reason: decision.reason,
            }
        }
    }

    fn visible(&self, ctx: &CallContext) -> bool {
        self.policy
            .visible(&principal(ctx.caller.as_deref()), &target(ctx))
    }
}

/// [`Limit`] over a [`Throttle`]: the upstream's concurrency slot (held until the call
/// returns), then the caller's, client's and tool's buckets.
#[derive(Debug)]
pub struct ThrottleLimit {
    throttle: Throttle,
}

impl ThrottleLimit {
    /// Limits with `throttle`.
    pub fn new(throttle: Throttle) -> Self {
        Self { throttle }
    }
}

impl Limit for ThrottleLimit {
    fn admit<'a>(&'a self, ctx: &'a CallContext) -> BoxFuture<'a, Result<Admission, Refused>> {
        Box::pin(async move {
            let principal = principal(ctx.caller.as_deref());
            let tool = (ctx.method == "tools/call")
                .then_some(ctx.target.as_deref())
                .flatten();
            match self.throttle.admit(&principal, &ctx.upstream, tool).await {
                Ok(permit) => Ok(Box::new(permit) as Admission),
                Err(refusal) => Err(Refused {
                    retry_after: std::time::Duration::from_secs(refusal.retry_after_secs),
                    reason: refusal.reason,
                }),
            }
        })
    }
}

/// [`AuditSink`] over an [`AuditLog`] (which redacts arguments and error messages).
#[derive(Debug, Clone)]
pub struct AuditLogSink {
    log: AuditLog,
}

impl AuditLogSink {
    /// Writes to `log`.
    pub fn new(log: AuditLog) -> Self {
        Self { log }
    }
}

impl AuditSink for AuditLogSink {
    fn record(&self, record: AuditRecord) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self.log.record(event(record)).await {
                // A full queue with `when_full = "drop"`: counted, and said in the next record.
                Ok(()) | Err(belay_audit::Error::Dropped) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// A guard's verdict as the audit log writes it.
fn guard_verdict(v: Verdict) -> belay_audit::GuardVerdict {
    belay_audit::GuardVerdict {
        guard: v.guard.to_owned(),
        rule: v.rule,
        kind: v.kind.to_owned(),
        severity: v.severity.to_owned(),
        action: v.action.as_str().to_owned(),
        field: v.field,
    }
}

/// The audit event of one chain record.
pub(crate) fn event(record: AuditRecord) -> AuditEvent {
    let AuditRecord {
        context,
        decision,
        outcome,
        latency,
        verdicts,
    } = record;
    let (rule, reason) = match decision {
        Decision::Allow { rule } => (rule, None),
        Decision::Deny { rule, reason } => (rule, Some(reason)),
    };
    let refused = |code: i32, message: String| belay_audit::Outcome::Error {
        code: Some(code.into()),
        message,
    };
    let (audit_decision, outcome) = match outcome {
        Outcome::Answered => (belay_audit::Decision::Allow, belay_audit::Outcome::Ok),
        Outcome::Denied if rule.as_deref() == Some(AUTHENTICATION_RULE) => (
            belay_audit::Decision::Unauthenticated,
            refused(UNAUTHENTICATED, reason.unwrap_or_default()),
        ),
        Outcome::Denied => (
            belay_audit::Decision::Deny,
            refused(DENIED, reason.unwrap_or_default()),
        ),
        Outcome::Limited(why) => (
            belay_audit::Decision::RateLimited,
            refused(RATE_LIMITED, why),
        ),
        Outcome::Blocked(message) => (belay_audit::Decision::Allow, refused(BLOCKED, message)),
        Outcome::Failed(message) => (
            belay_audit::Decision::Allow,
            belay_audit::Outcome::Error {
                code: None,
                message,
            },
        ),
    };
    let arrived = chrono::Utc::now()
        - chrono::Duration::from_std(latency).unwrap_or_else(|_| chrono::Duration::zero());
    AuditEvent {
        time: arrived,
        user: context.caller.as_ref().map(|c| c.sub.clone()),
        client: context.caller.as_ref().and_then(|c| c.client_id.clone()),
        session: context.session,
        // Empty: refused before any upstream was chosen (a token failure at `/mcp`).
        upstream: Some(context.upstream).filter(|u| !u.is_empty()),
        name: context.target,
        arguments: context.arguments.map(Value::Object),
        decision: audit_decision,
        rule: Some(rule.unwrap_or_else(|| "default".into())),
        latency_us: Some(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX)),
        outcome,
        guard: verdicts.into_iter().map(guard_verdict).collect(),
        ..AuditEvent::new(context.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(method: &'static str, target: &str) -> CallContext {
        CallContext {
            caller: None,
            session: None,
            upstream: "stock".into(),
            method,
            target: Some(target.into()),
            arguments: None,
        }
    }

    #[test]
    fn completions_name_prompts_or_resources() {
        assert_eq!(kind(&ctx("completion/complete", "greet")), Kind::Prompt);
        assert_eq!(
            kind(&ctx("completion/complete", "stock://AAPL")),
            Kind::Resource
        );
        assert_eq!(kind(&ctx("tools/call", "a:b")), Kind::Tool);
    }

    #[test]
    fn no_caller_is_anonymous() {
        assert_eq!(principal(None).user, ANONYMOUS);
    }

    #[test]
    fn refusals_map_to_audit_decisions() {
        let record = |decision, outcome| AuditRecord {
            context: ctx("tools/call", "get_x"),
            decision,
            outcome,
            latency: std::time::Duration::from_millis(3),
            verdicts: Vec::new(),
        };
        let denied = event(record(
            Decision::Deny {
                rule: Some("no-x".into()),
                reason: "denied by rule `no-x`".into(),
            },
            Outcome::Denied,
        ));
        assert_eq!(denied.decision, belay_audit::Decision::Deny);
        assert_eq!(denied.rule.as_deref(), Some("no-x"));
        assert_eq!(denied.latency_us, Some(3000));
        let unauthenticated = event(record(
            Decision::Deny {
                rule: Some(AUTHENTICATION_RULE.into()),
                reason: "sign in".into(),
            },
            Outcome::Denied,
        ));
        assert_eq!(
            unauthenticated.decision,
            belay_audit::Decision::Unauthenticated
        );
        let limited = event(record(
            Decision::Allow { rule: None },
            Outcome::Limited("per-user".into()),
        ));
        assert_eq!(limited.decision, belay_audit::Decision::RateLimited);
        assert_eq!(limited.rule.as_deref(), Some("default"));
    }
}
