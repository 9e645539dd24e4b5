//! The request path, written out once: authenticate → policy → rate limit → guard in →
//! upstream → guard out → audit ([`Chain::apply`]).
//!
//! Each step is a trait with an allow-all default, so policy, limits, guards and audit
//! (other crates, which do not depend on this one) plug in with a small adapter (see
//! the `adapters` module), and a guard can be added for one upstream without touching the others.
//!
//! Refusals are JSON-RPC errors with the codes below, not HTTP statuses: by the time a
//! handler runs, the Streamable HTTP transport has already answered 200 (or opened the SSE
//! stream) for the POST, and MCP clients treat a non-2xx POST as a broken transport, not as
//! a refused request. A rate-limited request carries `data.retryAfter` (seconds) instead of
//! a `Retry-After` header, so a client can back off without losing its session (or, with
//! `[gateway.http] rate_limit_status = "http"`, the HTTP front answers 429 with
//! `Retry-After` and the same body: see the `admission` module).
//!
//! A request is admitted once ([`Chain::admit`]: authenticate → policy → rate limit), by
//! the HTTP front before rmcp answers, which hands the [`Admitted`] request to the handler;
//! the handler then runs the rest ([`Chain::proceed`]). [`Chain::apply`] does both, for a
//! request the front did not admit.

use std::{future::Future, sync::Arc, time::Duration};

use belay_auth::Caller;
use futures::future::BoxFuture;
use rmcp::{
    ErrorData,
    model::{ErrorCode, JsonObject},
};
use tokio::time::Instant;

use crate::metrics::Metrics;

mod guard;
pub use guard::{Guard, GuardAction, Stop, UpstreamGuards, Verdict};

/// JSON-RPC error code of a request refused by policy (`data.rule` names the rule).
pub const DENIED: i32 = -32001;
/// JSON-RPC error code of a request without an authenticated caller where one is required.
pub const UNAUTHENTICATED: i32 = -32002;
/// The rule named in the decision and audit record of a request refused for want of a caller.
pub const AUTHENTICATION_RULE: &str = "authentication";
/// JSON-RPC error code of a rate-limited request (`data.retryAfter`: seconds to wait).
pub const RATE_LIMITED: i32 = -32029;
/// JSON-RPC error code of a request or result a guard stopped (`data.guard`, `data.rule`).
pub const BLOCKED: i32 = -32003;

/// What is being asked, by whom, of which upstream.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The authenticated caller (from `belay_auth::Protection`), if the route is protected.
    pub caller: Option<Arc<Caller>>,
    /// The downstream session (`Mcp-Session-Id`), if any.
    pub session: Option<String>,
    /// The upstream the request goes to.
    pub upstream: String,
    /// The MCP method, e.g. `tools/call`.
    pub method: &'static str,
    /// The tool or prompt name (unprefixed), or the resource URI.
    pub target: Option<String>,
    /// The tool or prompt arguments; a guard may rewrite them.
    pub arguments: Option<JsonObject>,
}

/// A policy decision, with the rule that made it (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Allow {
        /// The rule that allowed it, if a rule did.
        rule: Option<String>,
    },
    /// Refuse, saying why.
    Deny {
        /// The rule that denied it.
        rule: Option<String>,
        /// Shown to the caller.
        reason: String,
    },
}

/// Policy: may this caller make this request?
pub trait Decide: Send + Sync {
    /// Decides about one request, arguments included.
    fn decide(&self, ctx: &CallContext) -> Decision;

    /// Whether a list shows `ctx`'s target (no arguments yet): by default, whether
    /// [`Decide::decide`] allows it. A policy with argument constraints should keep a
    /// target visible when some arguments would pass.
    fn visible(&self, ctx: &CallContext) -> bool {
        matches!(self.decide(ctx), Decision::Allow { .. })
    }
}

/// What an admitted request holds until it is done (e.g. a concurrency slot, given back
/// on drop).
pub type Admission = Box<dyn Send + Sync>;

/// A request that passed authentication, policy and the rate limit: the one context every
/// later step reads, policy's decision (for the audit record), and the limiter's slot,
/// held by every copy until the last is dropped.
#[derive(Clone)]
pub struct Admitted {
    /// The request as the chain sees it.
    pub ctx: CallContext,
    /// Policy's decision (an allow, with its rule).
    pub decision: Decision,
    started: Instant,
    _slot: Arc<Admission>,
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted")
            .field("ctx", &self.ctx)
            .field("decision", &self.decision)
            .finish_non_exhaustive()
    }
}

/// A request [`Chain::admit`] refused (audited and counted already): the JSON-RPC error
/// for the caller, and for a rate-limited one the seconds to wait.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The error the caller gets.
    pub error: ErrorData,
    /// Seconds before a retry can succeed, when the rate limit refused it.
    pub retry_after_secs: Option<u64>,
}

impl From<Refusal> for ErrorData {
    fn from(refusal: Refusal) -> Self {
        refusal.error
    }
}

/// A request the limiter refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// How long to wait before a retry can succeed.
    pub retry_after: Duration,
    /// What was exceeded, for the caller and the audit log.
    pub reason: String,
}

/// Rate limiting: may this request go now?
pub trait Limit: Send + Sync {
    /// Admits the request, or refuses it. The [`Admission`] is held until the upstream
    /// call returns, so concurrency caps count calls in flight.
    fn admit<'a>(&'a self, ctx: &'a CallContext) -> BoxFuture<'a, Result<Admission, Refused>>;
}

/// How a request ended, for the audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered by the upstream (an `isError` tool result counts as answered).
    Answered,
    /// Refused by policy.
    Denied,
    /// Refused by the rate limiter, saying which limit.
    Limited(String),
    /// Blocked by a guard, saying why.
    Blocked(String),
    /// The upstream failed or answered with a JSON-RPC error.
    Failed(String),
}

/// One audit record: everything a log line needs, no secrets (the token stays in
/// `Caller::token`, which never prints).
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// The request.
    pub context: CallContext,
    /// Policy's decision.
    pub decision: Decision,
    /// How it ended.
    pub outcome: Outcome,
    /// Time spent in the gateway and upstream.
    pub latency: Duration,
    /// What the guards found and did, in the order they ran.
    pub verdicts: Vec<Verdict>,
}

/// Where audit records go.
pub trait AuditSink: Send + Sync {
    /// Records one request; the request waits for it (back-pressure when the log is
    /// behind). `Err(reason)`: the record could not be kept, so an answered request's
    /// result is withheld (fail closed: nothing happens unaudited).
    fn record(&self, record: AuditRecord) -> BoxFuture<'_, Result<(), String>>;
}

/// Allows everything: the default policy and limiter.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Decide for AllowAll {
    fn decide(&self, _ctx: &CallContext) -> Decision {
        Decision::Allow { rule: None }
    }
}

impl Limit for AllowAll {
    fn admit<'a>(&'a self, _ctx: &'a CallContext) -> BoxFuture<'a, Result<Admission, Refused>> {
        Box::pin(async { Ok(Box::new(()) as Admission) })
    }
}

/// Discards audit records (the default until an audit sink is configured).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _record: AuditRecord) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// The steps every proxied request goes through.
#[derive(Clone)]
pub struct Chain {
    /// Refuse requests without an authenticated caller.
    pub require_caller: bool,
    /// Policy.
    pub decide: Arc<dyn Decide>,
    /// Rate limits.
    pub limit: Arc<dyn Limit>,
    /// Guards for every upstream, run first.
    pub guards: Vec<Arc<dyn Guard>>,
    /// Each upstream's own guard (`[gateway.upstream.guard]`), run after the global ones.
    pub upstream_guards: UpstreamGuards,
    /// Audit.
    pub audit: Arc<dyn AuditSink>,
    /// Where every outcome is counted and timed, if anywhere (`[gateway.metrics]`).
    pub metrics: Option<Arc<Metrics>>,
    /// What rate-limit buckets are timed by, now and after a reload swaps the limiter.
    pub clock: Arc<dyn belay_policy::Clock>,
}

impl Default for Chain {
    fn default() -> Self {
        Self {
            require_caller: false,
            decide: Arc::new(AllowAll),
            limit: Arc::new(AllowAll),
            guards: Vec::new(),
            upstream_guards: UpstreamGuards::default(),
            audit: Arc::new(NoAudit),
            metrics: None,
            clock: Arc::new(belay_policy::SystemClock),
        }
    }
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("require_caller", &self.require_caller)
            .field("guards", &self.guards.len())
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// Whether the caller may see `ctx`'s target in a list (policy only; no audit).
    pub fn visible(&self, ctx: &CallContext) -> bool {
        (!self.require_caller || ctx.caller.is_some()) && self.decide.visible(ctx)
    }

    fn guards_for(&self, upstream: &str) -> Vec<Arc<dyn Guard>> {
        let mut guards = self.guards.clone();
        guards.extend(self.upstream_guards.get(upstream));
        guards
    }

    /// Counts and times one finished request, and its guards' verdicts, if metrics are
    /// kept.
    fn observe(
        &self,
        ctx: &CallContext,
        outcome: &Outcome,
        rule: Option<&str>,
        verdicts: &[Verdict],
        started: Instant,
    ) {
        if let Some(metrics) = &self.metrics {
            metrics.record(ctx, outcome, rule, started.elapsed());
            metrics.record_verdicts(&ctx.upstream, verdicts);
        }
    }

    /// Records a refusal; an audit failure is logged, and the refusal stands either way.
    async fn audit_refusal(
        &self,
        ctx: &CallContext,
        decision: &Decision,
        outcome: Outcome,
        verdicts: Vec<Verdict>,
        started: Instant,
    ) {
        let rule = match decision {
            Decision::Deny { rule, .. } => rule.as_deref(),
            Decision::Allow { .. } => None,
        };
        self.observe(ctx, &outcome, rule, &verdicts, started);
        let record = AuditRecord {
            context: ctx.clone(),
            decision: decision.clone(),
            outcome,
            latency: started.elapsed(),
            verdicts,
        };
        if let Err(why) = self.audit.record(record).await {
            tracing::error!(upstream = %ctx.upstream, %why, "cannot write the audit record of a refused request");
        }
    }

    /// Runs one request through every step: [`Self::admit`], then [`Self::proceed`].
    pub async fn apply<T, F, Fut>(&self, ctx: CallContext, upstream: F) -> Result<T, ErrorData>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce(CallContext) -> Fut,
        Fut: Future<Output = Result<T, ErrorData>>,
    {
        let admitted = self.admit(ctx).await?;
        self.proceed(admitted, upstream).await
    }

    /// The admission of one request, in this order and for these reasons: authentication
    /// first (nothing else means anything without a caller); policy before the limiter (a
    /// denied request must not use up the caller's budget). A refusal is logged, counted
    /// and audited here, once.
    pub async fn admit(&self, ctx: CallContext) -> Result<Admitted, Refusal> {
        let started = Instant::now();

        // 1. Authenticate: the Protection layer verified the token; here we insist on it.
        if self.require_caller && ctx.caller.is_none() {
            let decision = Decision::Deny {
                rule: Some(AUTHENTICATION_RULE.into()),
                reason: "this gateway requires a signed-in caller".into(),
            };
            self.audit_refusal(&ctx, &decision, Outcome::Denied, Vec::new(), started)
                .await;
            return Err(Refusal {
                error: ErrorData::new(
                    ErrorCode(UNAUTHENTICATED),
                    "authentication required: sign in to the gateway",
                    None,
                ),
                retry_after_secs: None,
            });
        }

        // 2. Policy.
        let decision = self.decide.decide(&ctx);
        log_decision(&ctx, &decision);
        if let Decision::Deny { rule, reason } = &decision {
            self.audit_refusal(&ctx, &decision, Outcome::Denied, Vec::new(), started)
                .await;
            let rule = rule.as_deref().unwrap_or("default");
            return Err(Refusal {
                error: ErrorData::new(
                    ErrorCode(DENIED),
                    format!("denied by policy (rule `{rule}`): {reason}"),
                    Some(serde_json::json!({ "rule": rule })),
                ),
                retry_after_secs: None,
            });
        }

        // 3. Rate limit; the slot lives until the request is done.
        match self.limit.admit(&ctx).await {
            Ok(slot) => Ok(Admitted {
                ctx,
                decision,
                started,
                _slot: Arc::new(slot),
            }),
            Err(refused) => {
                let secs = retry_after_secs(&refused);
                tracing::info!(
                    upstream = %ctx.upstream, method = ctx.method, target = ?ctx.target,
                    retry_after_secs = secs, reason = %refused.reason, "rate limited"
                );
                let outcome = Outcome::Limited(refused.reason.clone());
                self.audit_refusal(&ctx, &decision, outcome, Vec::new(), started)
                    .await;
                Err(Refusal {
                    error: ErrorData::new(
                        ErrorCode(RATE_LIMITED),
                        format!("{}; retry after {secs} s", refused.reason),
                        Some(serde_json::json!({ "retryAfter": secs })),
                    ),
                    retry_after_secs: Some(secs),
                })
            }
        }
    }

    /// The rest of an [`Admitted`] request's way: guards around the upstream (what goes in
    /// and what comes out), then audit, for every outcome.
    pub async fn proceed<T, F, Fut>(&self, admitted: Admitted, upstream: F) -> Result<T, ErrorData>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce(CallContext) -> Fut,
        Fut: Future<Output = Result<T, ErrorData>>,
    {
        let Admitted {
            mut ctx,
            decision,
            started,
            _slot: slot,
        } = admitted;

        // 4. Guards on the way in.
        let guards = self.guards_for(&ctx.upstream);
        let mut verdicts = Vec::new();
        for guard in &guards {
            if let Err(stop) = guard.inspect_request(&mut ctx, &mut verdicts) {
                let message = match stop.code {
                    ErrorCode(BLOCKED) => format!("blocked by a guard: {}", stop.message),
                    _ => stop.message,
                };
                let error = match stop.code {
                    ErrorCode(BLOCKED) => blocked(&message, &verdicts),
                    code => ErrorData::new(code, message.clone(), None),
                };
                let outcome = Outcome::Blocked(message);
                self.audit_refusal(&ctx, &decision, outcome, verdicts, started)
                    .await;
                return Err(error);
            }
        }

        // 5. Upstream.
        let result = match upstream(ctx.clone()).await {
            Ok(result) => result,
            Err(e) => {
                let outcome = Outcome::Failed(e.message.to_string());
                self.audit_refusal(&ctx, &decision, outcome, verdicts, started)
                    .await;
                return Err(e);
            }
        };
        drop(slot);

        // 6. Guards on the way out: only pay for JSON when a guard is there to read it.
        let readers: Vec<&Arc<dyn Guard>> =
            guards.iter().filter(|g| g.reads_result(&ctx)).collect();
        let result = if readers.is_empty() {
            result
        } else {
            let mut json = serde_json::to_value(&result)
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            for guard in readers {
                if let Err(stop) = guard.inspect_result(&ctx, &mut json, &mut verdicts) {
                    let message = format!("result withheld by a guard: {}", stop.message);
                    let error = blocked(&message, &verdicts);
                    let outcome = Outcome::Blocked(message);
                    self.audit_refusal(&ctx, &decision, outcome, verdicts, started)
                        .await;
                    return Err(error);
                }
            }
            serde_json::from_value(json)
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
        };

        // 7. Audit: an answer that cannot be audited is not given (fail closed).
        let record = AuditRecord {
            context: ctx.clone(),
            decision,
            outcome: Outcome::Answered,
            latency: started.elapsed(),
            verdicts: verdicts.clone(),
        };
        let audited = self.audit.record(record).await;
        let outcome = match &audited {
            Ok(()) => Outcome::Answered,
            Err(_) => Outcome::Failed("audit log unavailable".into()),
        };
        self.observe(&ctx, &outcome, None, &verdicts, started);
        if let Err(why) = audited {
            tracing::error!(upstream = %ctx.upstream, %why, "audit log unavailable; result withheld");
            return Err(ErrorData::internal_error(
                "the gateway's audit log is unavailable, so the result is withheld; \
                 ask the operator to check the audit log",
                None,
            ));
        }
        Ok(result)
    }
}

/// The error of a request or result a guard stopped, naming the guard and rule that did.
fn blocked(message: &str, verdicts: &[Verdict]) -> ErrorData {
    let data = verdicts
        .iter()
        .rev()
        .find(|v| v.action == GuardAction::Blocked)
        .or(verdicts.last())
        .map(|v| serde_json::json!({ "guard": v.guard, "rule": v.rule }));
    ErrorData::new(ErrorCode(BLOCKED), message.to_owned(), data)
}

/// Seconds to wait before a retry of a refused request: whole, and at least 1.
pub(crate) fn retry_after_secs(refused: &Refused) -> u64 {
    let retry = refused.retry_after;
    (retry.as_secs() + u64::from(retry.subsec_nanos() > 0)).max(1)
}

/// Every policy decision, with its rule, in the logs (the audit log has them too).
fn log_decision(ctx: &CallContext, decision: &Decision) {
    let user = ctx.caller.as_ref().map(|c| c.sub.as_str());
    match decision {
        Decision::Allow { rule } => tracing::info!(
            upstream = %ctx.upstream, method = ctx.method, target = ?ctx.target, ?user,
            rule = rule.as_deref().unwrap_or("default"), "allowed by policy"
        ),
        Decision::Deny { rule, reason } => tracing::info!(
            upstream = %ctx.upstream, method = ctx.method, target = ?ctx.target, ?user,
            rule = rule.as_deref().unwrap_or("default"), %reason, "denied by policy"
        ),
    }
}

#[cfg(test)]
mod tests;
