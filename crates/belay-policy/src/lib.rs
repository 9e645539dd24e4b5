//! Pure access rules and rate limits for MCP requests (no HTTP, no MCP types; of Belay, only
//! belay-core, whose clock and token buckets the limits use).
//! [`Policy`] (from [`PolicySpec`]) decides if a [`Principal`] may reach a [`Target`]; its
//! [`Decision`] names the deciding rule (first match wins: see [`policy`]). [`Throttle`] (from
//! [`RateLimitSpec`]) applies token buckets (a [`RateLimiter`]) and per-upstream concurrency caps.
//! ```
//! # use belay_policy::{Effect, Policy, PolicySpec, Principal, RuleSpec, Target};
//! let read = RuleSpec { names: vec!["get_*".into()], ..RuleSpec::new("read", Effect::Allow) };
//! let policy = Policy::new(&PolicySpec { default: Effect::Deny, rules: vec![read] }).unwrap();
//! assert!(policy.decide(&Principal::new("ann"), &Target::tool("stock", "get_x"), None).allowed);
//! ```
#![deny(missing_docs)]

mod arguments;
mod concurrency;
mod error;
mod glob;
mod limit_spec;
pub mod limits;
mod local;
pub mod policy;
mod spec;
mod target;
mod throttle;

/// The workspace's clock, re-exported because [`Throttle::new`] takes one.
pub use belay_core::clock::{Clock, ManualClock, SystemClock};
pub use concurrency::{ConcurrencyLimits, Permit};
pub use error::Error;
pub use limit_spec::{BucketSpec, RateLimitSpec, ToolLimitSpec};
pub use limits::{BucketKey, Charge, LimitKind, Rate, RateLimiter, RateLimits, Refusal};
pub use local::LocalRateLimiter;
pub use policy::{Decision, Policy};
pub use spec::{ArgumentSpec, Effect, PolicySpec, RuleSpec};
pub use target::{Kind, Principal, Target};
pub use throttle::Throttle;
