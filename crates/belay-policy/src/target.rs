//! The two sides of every decision: who calls ([`Principal`]) and what they reach ([`Target`]).

use std::{collections::BTreeSet, fmt};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The authenticated caller, as the gateway learnt it from the access token. Built by the
/// gateway (from `belay_auth::Caller`), so this crate needs no token types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: a stable user id. Rules' `users` and per-user limits key on it
    /// (not on a display name, which users may be able to change).
    pub user: String,
    /// The OAuth client the caller used, if the token says.
    pub client_id: Option<String>,
    /// Groups or roles the issuer put in the token (`groups`, `roles`).
    pub groups: BTreeSet<String>,
    /// Granted scopes.
    pub scopes: BTreeSet<String>,
}

impl Principal {
    /// A caller known only by its user id.
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            ..Self::default()
        }
    }

    /// Sets the OAuth client.
    pub fn with_client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Adds groups or roles.
    pub fn with_groups<S: Into<String>>(mut self, groups: impl IntoIterator<Item = S>) -> Self {
        self.groups.extend(groups.into_iter().map(Into::into));
        self
    }

    /// Adds scopes.
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }
}

/// The three kinds of things an MCP server offers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A tool (`tools/call`, `tools/list`).
    Tool,
    /// A resource, named by its URI (`resources/read`, `resources/list`).
    Resource,
    /// A prompt (`prompts/get`, `prompts/list`).
    Prompt,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tool => "tool",
            Self::Resource => "resource",
            Self::Prompt => "prompt",
        })
    }
}

/// What a request reaches: one tool, resource or prompt of one upstream, by the name the
/// upstream itself uses (not the gateway's prefixed name), or a resource's URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The upstream's name in the gateway configuration.
    pub upstream: &'a str,
    /// Tool, resource or prompt.
    pub kind: Kind,
    /// The tool or prompt name, or the resource URI.
    pub name: &'a str,
}

impl<'a> Target<'a> {
    /// A tool of `upstream`.
    pub fn tool(upstream: &'a str, name: &'a str) -> Self {
        Self {
            upstream,
            kind: Kind::Tool,
            name,
        }
    }

    /// A resource of `upstream`, by URI.
    pub fn resource(upstream: &'a str, uri: &'a str) -> Self {
        Self {
            upstream,
            kind: Kind::Resource,
            name: uri,
        }
    }

    /// A prompt of `upstream`.
    pub fn prompt(upstream: &'a str, name: &'a str) -> Self {
        Self {
            upstream,
            kind: Kind::Prompt,
            name,
        }
    }
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}` of upstream `{}`",
            self.kind, self.name, self.upstream
        )
    }
}
