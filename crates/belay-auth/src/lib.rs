//! OAuth 2.1 resource-server checks, and the client pieces every Belay authorization part
//! shares. [`Protection`] wraps an MCP router: bearer tokens checked by [`Validator`]
//! (RFC 9068 JWTs, keys from the issuer's JWKS via [`discovery`], one pinned algorithm per
//! key, optional RFC 7662 introspection), per-method scopes from [`ScopePolicy`], RFC 6750
//! challenges and RFC 9728 metadata; handlers get the [`Caller`]. [`exchange`] holds the
//! token-endpoint client (RFC 8693, Entra on-behalf-of, RFC 7591). Everything is set by
//! [`ResourceSpec`] (`[resource]` in belay.toml), so external issuers work by config.
//! Design choice: nothing is fetched at start; discovery happens on the first token, so a
//! server starts even while its issuer is down and recovers when it comes back.
#![deny(missing_docs)]

mod caller;
pub mod discovery;
mod error;
pub mod exchange;
mod introspect;
pub mod jwks;
mod protect;
mod revocations;
mod scopes;
mod spec;
mod validate;

pub use caller::{AccessToken, Caller};
pub use error::Error;
pub use introspect::Introspector;
pub use protect::{PRM_PATH, Protection, Refusal, RefusalHook};
pub use revocations::{RevocationList, Revocations};
pub use scopes::ScopePolicy;
pub use spec::{CapabilityScopes, DEFAULT_ISSUER, IntrospectionSpec, ResourceSpec};
pub use validate::Validator;
