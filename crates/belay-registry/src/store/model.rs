//! What the registry's store reads and writes: versions with their governance status, the
//! history of changes, submissions and reviews, list queries and pages.

use serde::Serialize;
use serde_json::{Value, json};

use super::rfc3339;
use crate::{
    scan::ScanReport,
    validate::{GOVERNANCE_META, OFFICIAL_META},
};

/// The governance status of one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Published, not reviewed yet: not listed, never the latest.
    Pending,
    /// Reviewed and allowed.
    Approved,
    /// Still listed, marked as on its way out.
    Deprecated,
    /// Refused: not listed, never the latest.
    Blocked,
}

impl Status {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Deprecated => "deprecated",
            Self::Blocked => "blocked",
        }
    }

    /// The status the official API's `io.modelcontextprotocol.registry/official` metadata
    /// allows (`active`, `deprecated`, `deleted`); Belay's own sits beside it.
    pub fn official(self) -> &'static str {
        match self {
            Self::Pending | Self::Approved => "active",
            Self::Deprecated => "deprecated",
            Self::Blocked => "deleted",
        }
    }

    /// Whether the read API lists it by default.
    pub fn listed(self) -> bool {
        matches!(self, Self::Approved | Self::Deprecated)
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "deprecated" => Self::Deprecated,
            "blocked" => Self::Blocked,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored version of a server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The server's name.
    pub name: String,
    /// This version.
    pub version: String,
    /// The `server.json` as published.
    pub document: Value,
    /// Its governance status.
    pub status: Status,
    /// Who published it (see [`crate::spec::publisher`]).
    pub owner: String,
    /// When it was published (microseconds since the epoch).
    pub published_at: i64,
    /// When it last changed (microseconds since the epoch).
    pub updated_at: i64,
    /// Whether it is its server's latest listed version.
    pub is_latest: bool,
    /// The scan run at submission (none for versions stored before scans existed).
    pub scan: Option<ScanReport>,
    /// Where an imported version came from and when (none for one published here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Value>,
    /// Who may publish new versions of the server and change its owners and tags.
    pub owners: Vec<String>,
    /// The server's tags.
    pub tags: Vec<String>,
    #[serde(skip)]
    pub(super) id: i64,
}

impl Entry {
    /// The official API's `ServerResponse`: the document, the registry's official metadata
    /// and Belay's governance status beside it.
    pub fn response(&self) -> Value {
        json!({
            "server": self.document,
            "_meta": {
                OFFICIAL_META: {
                    "status": self.status.official(),
                    "publishedAt": rfc3339(self.published_at),
                    "updatedAt": rfc3339(self.updated_at),
                    "isLatest": self.is_latest,
                },
                GOVERNANCE_META: self.governance(),
            },
        })
    }

    /// Belay's own metadata: status, owners, tags, the stored scan and any provenance.
    pub fn governance(&self) -> Value {
        let mut meta = json!({
            "status": self.status,
            "owners": self.owners,
            "tags": self.tags,
            "scan": self.scan,
        });
        if let Some(provenance) = &self.provenance {
            meta["provenance"] = provenance.clone();
        }
        meta
    }

    /// Whether approving it needs `--override` (its scan found high or critical issues).
    pub fn needs_override(&self) -> bool {
        self.scan.as_ref().is_some_and(|s| s.needs_override)
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// When (microseconds since the epoch).
    pub at: i64,
    /// The server.
    pub name: String,
    /// The version.
    pub version: String,
    /// `publish`, `approve`, `deprecate` or `block`.
    pub action: String,
    /// Who: a publisher, or `cli:<user>` for the command line.
    pub actor: String,
    /// The status after the change.
    pub status: String,
    /// The status before it (none for a publication).
    pub previous: Option<String>,
    /// Why: the reason given with `--override`, the new owners or tags, the import source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The lists kept per server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerList {
    /// Who may publish its next versions.
    Owners,
    /// Its tags.
    Tags,
}

impl ServerList {
    /// `owners` or `tags`: the column, and the action recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owners => "owners",
            Self::Tags => "tags",
        }
    }
}

/// A recorded change not yet written to the audit log, with its row id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unaudited {
    /// The row id, for [`RegistryStore::mark_audited`].
    pub id: i64,
    /// The change.
    pub event: Event,
}

/// A new version to store: the validated document, who submits it and what its scan found.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The `server.json`, already validated.
    pub document: Value,
    /// Who publishes it (see [`crate::spec::publisher`]), or `import:<source>`.
    pub publisher: String,
    /// The scan of the document.
    pub scan: ScanReport,
    /// Where an imported version came from.
    pub provenance: Option<Value>,
}

/// A review of one version: who, and why when the scan is overridden.
#[derive(Debug, Clone, Default)]
pub struct Review {
    /// Who: `cli:<user>`.
    pub actor: String,
    /// With `--override`: the reason, required to approve a version whose scan found high
    /// or critical issues.
    pub override_reason: Option<String>,
}

/// A list request (`GET /v0.1/servers` and the CLI).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Where the previous page ended ([`Page::next_cursor`]).
    pub cursor: Option<String>,
    /// Page size (already capped by the caller).
    pub limit: usize,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// `latest`, or an exact version.
    pub version: Option<String>,
    /// Only versions changed after this time (microseconds since the epoch).
    pub updated_since: Option<i64>,
    /// Pending and blocked versions too.
    pub include_unlisted: bool,
    /// Only servers this publisher owns.
    pub owner: Option<String>,
    /// Only servers with this tag.
    pub tag: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    /// The versions on this page.
    pub entries: Vec<Entry>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}
