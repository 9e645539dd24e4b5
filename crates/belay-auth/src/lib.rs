//! OAuth 2.1 resource-server checks and the types every Belay authorization part shares.
#![deny(missing_docs)]

use serde::Deserialize;

/// Token checks of a protected server (`[resource]` in belay.toml).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceSpec {}
