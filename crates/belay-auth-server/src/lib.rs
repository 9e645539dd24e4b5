//! Belay's embedded OAuth 2.1 authorization server.
#![deny(missing_docs)]

use serde::Deserialize;

/// The embedded authorization server (`[auth_server]` in belay.toml).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSpec {}
