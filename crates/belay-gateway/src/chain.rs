//! The request path, written out once: authenticate → policy → rate limit → guard in →
//! upstream → guard out → audit ([`Chain::apply`]).
//!
//! Each step is a trait with an allow-all default, so policy, limits, guards and audit
//! (other crates, which do not depend on this one) plug in with a small adapter, and a
//! guard can be added for one upstream without touching the others.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use belay_auth::Caller;
use rmcp::{ErrorData, model::JsonObject};
use serde_json::Value;
use tokio::time::Instant;

/// What is being asked, by whom, of which upstream.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The authenticated caller (from `belay_auth::Protection`), if the route is protected.
    pub caller: Option<Caller>,
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
    /// Decides; also asked for each item of a list, to hide what the caller may not use.
    fn decide(&self, ctx: &CallContext) -> Decision;
}

/// Rate limiting: may this request go now?
pub trait Limit: Send + Sync {
    /// `Err(retry_after)` refuses the request.
    fn check(&self, ctx: &CallContext) -> Result<(), Duration>;
}

/// Inspection of what goes in and out (injection, secrets, poisoning, …).
pub trait Guard: Send + Sync {
    /// Looks at (and may rewrite) the request; `Err(reason)` blocks it.
    fn inspect_request(&self, _ctx: &mut CallContext) -> Result<(), String> {
        Ok(())
    }
    /// Looks at (and may rewrite) the result as JSON; `Err(reason)` withholds it.
    fn inspect_result(&self, _ctx: &CallContext, _result: &mut Value) -> Result<(), String> {
        Ok(())
    }
}

/// How a request ended, for the audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered by the upstream (an `isError` tool result counts as answered).
    Answered,
    /// Refused by policy.
    Denied,
    /// Refused by the rate limiter.
    Limited,
    /// Blocked by a guard.
    Blocked,
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
    /// Size of the result as JSON, when there was one.
    pub result_bytes: Option<usize>,
}

/// Where audit records go.
pub trait AuditSink: Send + Sync {
    /// Records one request. Must not block for long: the caller waits on it.
    fn record(&self, record: AuditRecord);
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
    fn check(&self, _ctx: &CallContext) -> Result<(), Duration> {
        Ok(())
    }
}

/// Discards audit records (the default until an audit sink is configured).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _record: AuditRecord) {}
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
    /// Guards per upstream name, run after the global ones.
    pub upstream_guards: HashMap<String, Vec<Arc<dyn Guard>>>,
    /// Audit.
    pub audit: Arc<dyn AuditSink>,
}

impl Default for Chain {
    fn default() -> Self {
        Self {
            require_caller: false,
            decide: Arc::new(AllowAll),
            limit: Arc::new(AllowAll),
            guards: Vec::new(),
            upstream_guards: HashMap::new(),
            audit: Arc::new(NoAudit),
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
        matches!(self.decide.decide(ctx), Decision::Allow { .. })
    }

    fn guards_for<'a>(&'a self, upstream: &str) -> impl Iterator<Item = &'a Arc<dyn Guard>> {
        self.guards
            .iter()
            .chain(self.upstream_guards.get(upstream).into_iter().flatten())
    }

    /// Runs one request through every step, in this order and for these reasons:
    /// authentication first (nothing else means anything without a caller); policy
    /// before the limiter (a denied request must not use up the caller's budget);
    /// guards around the upstream (what goes in and what comes out); audit last, for
    /// every outcome, refusals included.
    pub async fn apply<T, F, Fut>(&self, mut ctx: CallContext, upstream: F) -> Result<T, ErrorData>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce(CallContext) -> Fut,
        Fut: Future<Output = Result<T, ErrorData>>,
    {
        let started = Instant::now();
        let audit = |ctx: &CallContext, decision: &Decision, outcome, bytes| {
            self.audit.record(AuditRecord {
                context: ctx.clone(),
                decision: decision.clone(),
                outcome,
                latency: started.elapsed(),
                result_bytes: bytes,
            });
        };

        // 1. Authenticate: the Protection layer verified the token; here we insist on it.
        if self.require_caller && ctx.caller.is_none() {
            let decision = Decision::Deny {
                rule: Some("authentication".into()),
                reason: "this gateway requires a signed-in caller".into(),
            };
            audit(&ctx, &decision, Outcome::Denied, None);
            return Err(ErrorData::invalid_request(
                "authentication required: sign in to the gateway",
                None,
            ));
        }

        // 2. Policy.
        let decision = self.decide.decide(&ctx);
        if let Decision::Deny { rule, reason } = &decision {
            audit(&ctx, &decision, Outcome::Denied, None);
            let rule = rule.as_deref().unwrap_or("default");
            return Err(ErrorData::invalid_request(
                format!("denied by policy (rule `{rule}`): {reason}"),
                None,
            ));
        }

        // 3. Rate limit.
        if let Err(retry_after) = self.limit.check(&ctx) {
            audit(&ctx, &decision, Outcome::Limited, None);
            return Err(ErrorData::invalid_request(
                format!(
                    "rate limit reached; retry after {} s",
                    retry_after.as_secs().max(1)
                ),
                Some(serde_json::json!({ "retryAfter": retry_after.as_secs().max(1) })),
            ));
        }

        // 4. Guards on the way in.
        let upstream_name = ctx.upstream.clone();
        for guard in self.guards_for(&upstream_name) {
            if let Err(reason) = guard.inspect_request(&mut ctx) {
                audit(&ctx, &decision, Outcome::Blocked, None);
                return Err(ErrorData::invalid_request(
                    format!("blocked by a guard: {reason}"),
                    None,
                ));
            }
        }

        // 5. Upstream.
        let result = match upstream(ctx.clone()).await {
            Ok(result) => result,
            Err(e) => {
                audit(
                    &ctx,
                    &decision,
                    Outcome::Failed(e.message.to_string()),
                    None,
                );
                return Err(e);
            }
        };

        // 6. Guards on the way out: only pay for JSON when a guard is there to read it.
        let mut guards = self.guards_for(&upstream_name).peekable();
        let (result, bytes) = if guards.peek().is_some() {
            let mut json = serde_json::to_value(&result)
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            for guard in guards {
                if let Err(reason) = guard.inspect_result(&ctx, &mut json) {
                    audit(&ctx, &decision, Outcome::Blocked, None);
                    return Err(ErrorData::internal_error(
                        format!("result withheld by a guard: {reason}"),
                        None,
                    ));
                }
            }
            let bytes = json.to_string().len();
            let result = serde_json::from_value(json)
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            (result, Some(bytes))
        } else {
            (result, None)
        };

        // 7. Audit.
        audit(&ctx, &decision, Outcome::Answered, bytes);
        Ok(result)
    }
}
