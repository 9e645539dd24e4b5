//! `[registry]` in belay.toml: where `belay registry serve` listens, who may publish into
//! which namespaces, and how publish requests are bounded.

use std::collections::BTreeMap;

use belay_auth::{Caller, ResourceSpec};
use serde::Deserialize;

/// The scope a token needs to publish, unless `[registry] scope` names another.
pub const PUBLISH_SCOPE: &str = "registry:publish";

/// The registry's configuration (`[registry]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrySpec {
    /// Interface `belay registry serve` listens on.
    pub host: String,
    /// Its port; 0 picks a free one.
    pub port: u16,
    /// Who may publish where: a publisher (see [`publisher`]) → the namespaces granted,
    /// e.g. `alice = ["com.example", "com.example.*"]`, `"client:ci" = ["io.acme"]`.
    /// `com.example.*` grants every namespace below `com.example`; `*` every namespace.
    /// Nobody is listed by default, so nobody can publish until an administrator says so.
    pub namespaces: BTreeMap<String, Vec<String>>,
    /// The scope a publish token must carry.
    pub scope: String,
    /// Largest `server.json` accepted by `POST /v0.1/publish` (bytes); larger is 413.
    pub max_body_bytes: usize,
    /// Seconds a client has to send a publish body; a slower one is cut off (408).
    pub body_timeout_secs: u64,
    /// Items per page when the client names no `limit`.
    pub default_limit: usize,
    /// Most items per page; a larger `limit` is capped to it.
    pub max_limit: usize,
    /// How publish tokens are checked: issuer, audience (default: the registry's URL),
    /// which service clients may publish with their own tokens (`service_clients`), …
    /// The `[resource]` keys, under `[registry.auth]`.
    pub auth: ResourceSpec,
}

impl Default for RegistrySpec {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8100,
            namespaces: BTreeMap::new(),
            scope: PUBLISH_SCOPE.into(),
            max_body_bytes: 256 * 1024,
            body_timeout_secs: 10,
            default_limit: 30,
            max_limit: 100,
            auth: ResourceSpec::default(),
        }
    }
}

/// The publisher a token names in `[registry] namespaces`: a person by their username
/// (`preferred_username`, falling back to `sub`), a client acting for itself (client
/// credentials) as `client:<client id>`, so a client can never pass for a person.
pub fn publisher(caller: &Caller) -> String {
    if caller.is_service() {
        let client = caller.client_id.as_deref().unwrap_or(&caller.sub);
        return format!("client:{client}");
    }
    caller
        .username
        .clone()
        .unwrap_or_else(|| caller.sub.clone())
}

impl RegistrySpec {
    /// The namespace grants of `publisher` (empty when it has none).
    pub fn grants_of(&self, publisher: &str) -> &[String] {
        self.namespaces.get(publisher).map_or(&[], Vec::as_slice)
    }

    /// Whether `publisher` may publish servers in `namespace`.
    pub fn may_publish(&self, publisher: &str, namespace: &str) -> bool {
        self.grants_of(publisher)
            .iter()
            .any(|pattern| crate::name::grants(pattern, namespace))
    }
}
