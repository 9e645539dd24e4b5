//! The registry's tables in Belay's store: every published version of every server, with
//! its governance status, and the history of every change.
//!
//! Versions are immutable once published; only their status changes. What the read API
//! lists by default is what was vetted: `approved` and `deprecated` versions. `pending` and
//! `blocked` ones are visible to the CLI, and over HTTP only on request
//! (`include_unlisted=true`). `isLatest` marks, per server, the latest listed version (by
//! [`crate::version::compare`]); it is recomputed in the same transaction as every change,
//! and a row whose flag flips gets a new `updatedAt`, so `updated_since` syncs see it.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use belay_store::{
    Db,
    rusqlite::{self, OptionalExtension, Transaction, params},
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Error,
    validate::{GOVERNANCE_META, OFFICIAL_META},
};

/// Migration steps of component `registry`. Append-only.
const STEPS: &[&str] = &[r"
CREATE TABLE registry_versions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    document     TEXT NOT NULL,
    status       TEXT NOT NULL
                 CHECK (status IN ('pending', 'approved', 'deprecated', 'blocked')),
    owner        TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    is_latest    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (name, version)
);
CREATE INDEX registry_versions_updated ON registry_versions (updated_at);
CREATE TABLE registry_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    name     TEXT NOT NULL,
    version  TEXT NOT NULL,
    action   TEXT NOT NULL,
    actor    TEXT NOT NULL,
    status   TEXT NOT NULL,
    previous TEXT
);
"];

/// Most versions one server may have (the official registry's limit too).
const MAX_VERSIONS: i64 = 10_000;

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

    fn parse(text: &str) -> Option<Self> {
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
    #[serde(skip)]
    id: i64,
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
                GOVERNANCE_META: { "status": self.status },
            },
        })
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
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    /// The versions on this page.
    pub entries: Vec<Entry>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// The registry's tables; clone it freely.
#[derive(Debug, Clone)]
pub struct RegistryStore {
    db: Db,
}

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// `micros` as RFC 3339 in UTC with microseconds.
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// An RFC 3339 time as microseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Result<i64, Error> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|_| {
            Error::BadRequest(format!(
                "invalid updated_since `{text}`: expected an RFC 3339 timestamp, e.g. \
                 2025-08-07T13:15:04.280Z"
            ))
        })
}

const COLUMNS: &str =
    "id, name, version, document, status, owner, published_at, updated_at, is_latest";

fn entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let text: String = row.get(3)?;
    let status: String = row.get(4)?;
    Ok(Entry {
        id: row.get(0)?,
        name: row.get(1)?,
        version: row.get(2)?,
        // Stored only after validation, so it parses; a damaged row shows as null.
        document: serde_json::from_str(&text).unwrap_or(Value::Null),
        status: Status::parse(&status).unwrap_or(Status::Blocked),
        owner: row.get(5)?,
        published_at: row.get(6)?,
        updated_at: row.get(7)?,
        is_latest: row.get(8)?,
    })
}

fn encode_cursor(entry: &Entry) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}\n{}", entry.name, entry.id))
}

fn decode_cursor(cursor: &str) -> Result<(String, i64), Error> {
    let bad = || Error::BadRequest("invalid cursor: pass metadata.nextCursor as given".into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (name, id) = text.split_once('\n').ok_or_else(bad)?;
    Ok((name.to_owned(), id.parse().map_err(|_| bad())?))
}

/// `text` for a LIKE pattern, its wildcards escaped with `\`.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl RegistryStore {
    /// The registry in `db`, creating its tables if needed.
    pub fn open(db: Db) -> Result<Self, Error> {
        db.migrate("registry", STEPS)?;
        Ok(Self { db })
    }

    /// Stores a new version of the server `document` describes (already validated), as
    /// `pending`, owned by `owner`. A version that exists is [`Error::Duplicate`].
    pub async fn publish(&self, document: Value, owner: &str) -> Result<Entry, Error> {
        let field = |key: &str| {
            document
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    Error::Invalid(vec![crate::Problem {
                        field: format!("/{key}"),
                        message: "is required: add it".into(),
                    }])
                })
        };
        let (name, version) = (field("name")?, field("version")?);
        let owner = owner.to_owned();
        let text = document.to_string();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let (exists, count): (bool, i64) = tx.query_row(
                    "SELECT coalesce(sum(version = ?2), 0) > 0, count(*)
                     FROM registry_versions WHERE name = ?1",
                    params![name, version],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if exists {
                    return Ok(Err(Error::Duplicate { name, version }));
                }
                if count >= MAX_VERSIONS {
                    return Ok(Err(Error::Conflict(format!(
                        "{name} has {count} versions, the most one server may have"
                    ))));
                }
                let now = now_micros();
                tx.execute(
                    "INSERT INTO registry_versions
                         (name, version, document, status, owner, published_at, updated_at)
                     VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?5)",
                    params![name, version, text, owner, now],
                )?;
                record(
                    &tx,
                    now,
                    &name,
                    &version,
                    "publish",
                    &owner,
                    Status::Pending,
                    None,
                )?;
                refresh_latest(&tx, &name, now)?;
                let entry = get(&tx, &name, &version)?;
                tx.commit()?;
                Ok(entry.ok_or_else(|| Error::Store("the new version vanished".into())))
            })
            .await?
    }

    /// Sets the status of `name@version`, recording `actor`. Setting the status it has is
    /// [`Error::Conflict`]; a version cannot go back to `pending`.
    pub async fn set_status(
        &self,
        name: &str,
        version: &str,
        status: Status,
        actor: &str,
    ) -> Result<Entry, Error> {
        if status == Status::Pending {
            return Err(Error::Conflict(
                "a reviewed version cannot go back to pending".into(),
            ));
        }
        let (name, version, actor) = (name.to_owned(), version.to_owned(), actor.to_owned());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let Some(before) = get(&tx, &name, &version)? else {
                    return Ok(Err(Error::NotFound(format!(
                        "{name}@{version} is not in the registry"
                    ))));
                };
                if before.status == status {
                    return Ok(Err(Error::Conflict(format!(
                        "{name}@{version} is already {status}"
                    ))));
                }
                let now = now_micros();
                tx.execute(
                    "UPDATE registry_versions SET status = ?3, updated_at = ?4
                     WHERE name = ?1 AND version = ?2",
                    params![name, version, status.as_str(), now],
                )?;
                let action = match status {
                    Status::Approved => "approve",
                    Status::Deprecated => "deprecate",
                    Status::Blocked | Status::Pending => "block",
                };
                record(
                    &tx,
                    now,
                    &name,
                    &version,
                    action,
                    &actor,
                    status,
                    Some(before.status),
                )?;
                refresh_latest(&tx, &name, now)?;
                let entry = get(&tx, &name, &version)?;
                tx.commit()?;
                Ok(entry.ok_or_else(|| Error::Store("the version vanished".into())))
            })
            .await?
    }

    /// `name@version` (`latest`: the latest listed version); unlisted ones only with
    /// `include_unlisted`.
    pub async fn get(
        &self,
        name: &str,
        version: &str,
        include_unlisted: bool,
    ) -> Result<Option<Entry>, Error> {
        let (name, version) = (name.to_owned(), version.to_owned());
        let found = self
            .db
            .call(move |c| {
                if version == "latest" {
                    c.query_row(
                        &format!(
                            "SELECT {COLUMNS} FROM registry_versions
                             WHERE name = ?1 AND is_latest = 1"
                        ),
                        [&name],
                        entry,
                    )
                    .optional()
                } else {
                    get(c, &name, &version)
                }
            })
            .await?;
        Ok(found.filter(|e| include_unlisted || e.status.listed()))
    }

    /// Every version of `name`, newest publication first (listed ones unless
    /// `include_unlisted`); `None` when the server has none to show.
    pub async fn versions(
        &self,
        name: &str,
        include_unlisted: bool,
    ) -> Result<Option<Vec<Entry>>, Error> {
        let name = name.to_owned();
        let all = self
            .db
            .call(move |c| {
                let mut statement = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM registry_versions WHERE name = ?1
                     ORDER BY published_at DESC, id DESC"
                ))?;
                let rows = statement.query_map([&name], entry)?;
                rows.collect::<rusqlite::Result<Vec<Entry>>>()
            })
            .await?;
        let shown: Vec<Entry> = all
            .into_iter()
            .filter(|e| include_unlisted || e.status.listed())
            .collect();
        Ok((!shown.is_empty()).then_some(shown))
    }

    /// One page of versions matching `query`, by name then publication.
    pub async fn list(&self, query: ListQuery) -> Result<Page, Error> {
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = query.limit.max(1);
        let search = query.search.as_deref().map(like_escaped);
        let rows = self
            .db
            .call(move |c| {
                let mut statement = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM registry_versions
                     WHERE (?1 IS NULL OR name LIKE '%' || ?1 || '%' ESCAPE '\\')
                       AND (?2 IS NULL OR (?2 = 'latest' AND is_latest = 1) OR version = ?2)
                       AND (?3 IS NULL OR updated_at > ?3)
                       AND (?4 OR status IN ('approved', 'deprecated'))
                       AND (?5 IS NULL OR name > ?5 OR (name = ?5 AND id > ?6))
                     ORDER BY name, id
                     LIMIT ?7"
                ))?;
                let (after_name, after_id) = after.unzip();
                let rows = statement.query_map(
                    params![
                        search,
                        query.version,
                        query.updated_since,
                        query.include_unlisted,
                        after_name,
                        after_id,
                        i64::try_from(limit + 1).unwrap_or(i64::MAX),
                    ],
                    entry,
                )?;
                rows.collect::<rusqlite::Result<Vec<Entry>>>()
            })
            .await?;
        let mut entries = rows;
        let next_cursor = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(encode_cursor)
        } else {
            None
        };
        Ok(Page {
            entries,
            next_cursor,
        })
    }

    /// Every stored version (any status), by name then publication: for the CLI.
    pub async fn all(&self, status: Option<Status>) -> Result<Vec<Entry>, Error> {
        let status = status.map(Status::as_str);
        Ok(self
            .db
            .call(move |c| {
                let mut statement = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM registry_versions
                     WHERE ?1 IS NULL OR status = ?1 ORDER BY name, id"
                ))?;
                let rows = statement.query_map([status], entry)?;
                rows.collect::<rusqlite::Result<Vec<Entry>>>()
            })
            .await?)
    }

    /// The recorded changes of `name` (every server when `None`), oldest first.
    pub async fn history(&self, name: Option<&str>) -> Result<Vec<Event>, Error> {
        let name = name.map(str::to_owned);
        Ok(self
            .db
            .call(move |c| {
                let mut statement = c.prepare(
                    "SELECT at, name, version, action, actor, status, previous
                     FROM registry_events WHERE ?1 IS NULL OR name = ?1 ORDER BY id",
                )?;
                let rows = statement.query_map([name], |r| {
                    Ok(Event {
                        at: r.get(0)?,
                        name: r.get(1)?,
                        version: r.get(2)?,
                        action: r.get(3)?,
                        actor: r.get(4)?,
                        status: r.get(5)?,
                        previous: r.get(6)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<Event>>>()
            })
            .await?)
    }
}

fn get(c: &rusqlite::Connection, name: &str, version: &str) -> rusqlite::Result<Option<Entry>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM registry_versions WHERE name = ?1 AND version = ?2"),
        [name, version],
        entry,
    )
    .optional()
}

#[allow(clippy::too_many_arguments)]
fn record(
    tx: &Transaction<'_>,
    at: i64,
    name: &str,
    version: &str,
    action: &str,
    actor: &str,
    status: Status,
    previous: Option<Status>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO registry_events (at, name, version, action, actor, status, previous)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            at,
            name,
            version,
            action,
            actor,
            status.as_str(),
            previous.map(Status::as_str)
        ],
    )?;
    Ok(())
}

/// Marks `name`'s latest listed version, touching `updated_at` of each row whose flag flips.
fn refresh_latest(tx: &Transaction<'_>, name: &str, now: i64) -> rusqlite::Result<()> {
    let rows: Vec<(i64, String, i64, String, bool)> = {
        let mut statement = tx.prepare(
            "SELECT id, version, published_at, status, is_latest
             FROM registry_versions WHERE name = ?1",
        )?;
        let rows = statement.query_map([name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let latest = rows
        .iter()
        .filter(|(_, _, _, status, _)| Status::parse(status).is_some_and(Status::listed))
        .max_by(|a, b| crate::version::compare(&a.1, a.2, &b.1, b.2))
        .map(|row| row.0);
    for (id, _, _, _, was_latest) in &rows {
        let is_latest = Some(*id) == latest;
        if is_latest != *was_latest {
            tx.execute(
                "UPDATE registry_versions SET is_latest = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, is_latest, now],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> RegistryStore {
        RegistryStore::open(Db::in_memory().expect("in-memory store")).expect("migrated")
    }

    fn document(name: &str, version: &str) -> Value {
        json!({ "name": name, "description": "A test server.", "version": version })
    }

    async fn approved(store: &RegistryStore, name: &str, version: &str) -> Result<Entry, Error> {
        store.publish(document(name, version), "alice").await?;
        store
            .set_status(name, version, Status::Approved, "cli:admin")
            .await
    }

    #[tokio::test]
    async fn a_new_version_waits_for_review_and_approval_makes_it_the_latest() -> Result<(), Error>
    {
        let store = store();
        let pending = store
            .publish(document("com.example/w", "1.0.0"), "alice")
            .await?;
        assert_eq!(
            (pending.status, pending.is_latest),
            (Status::Pending, false)
        );
        assert_eq!(pending.owner, "alice");
        assert!(store.get("com.example/w", "1.0.0", false).await?.is_none());
        assert!(store.get("com.example/w", "latest", false).await?.is_none());
        assert!(store.get("com.example/w", "1.0.0", true).await?.is_some());
        let first = store
            .set_status("com.example/w", "1.0.0", Status::Approved, "cli:admin")
            .await?;
        assert!(first.is_latest);
        // 1.10.0 is later than 1.9.0 although published first.
        let ten = approved(&store, "com.example/w", "1.10.0").await?;
        let nine = approved(&store, "com.example/w", "1.9.0").await?;
        assert!(ten.is_latest && !nine.is_latest);
        let old = store
            .get("com.example/w", "1.0.0", false)
            .await?
            .expect("listed");
        assert!(!old.is_latest);
        assert!(
            old.updated_at > first.updated_at,
            "the flag flip is an update"
        );
        // Blocking the latest hands the flag back, and hides it.
        store
            .set_status("com.example/w", "1.10.0", Status::Blocked, "cli:admin")
            .await?;
        let latest = store
            .get("com.example/w", "latest", false)
            .await?
            .expect("latest");
        assert_eq!(latest.version, "1.9.0");
        assert!(store.get("com.example/w", "1.10.0", false).await?.is_none());
        let versions = store.versions("com.example/w", false).await?.expect("some");
        let shown: Vec<&str> = versions.iter().map(|e| e.version.as_str()).collect();
        assert_eq!(
            shown,
            ["1.9.0", "1.0.0"],
            "newest publication first, blocked hidden"
        );
        Ok(())
    }

    #[tokio::test]
    async fn versions_are_immutable_and_changes_are_recorded() -> Result<(), Error> {
        let store = store();
        approved(&store, "com.example/w", "1.0.0").await?;
        let again = store
            .publish(document("com.example/w", "1.0.0"), "bob")
            .await;
        assert!(matches!(again, Err(Error::Duplicate { .. })), "{again:?}");
        let same = store
            .set_status("com.example/w", "1.0.0", Status::Approved, "cli:admin")
            .await;
        assert!(matches!(same, Err(Error::Conflict(_))), "{same:?}");
        let back = store
            .set_status("com.example/w", "1.0.0", Status::Pending, "cli:admin")
            .await;
        assert!(matches!(back, Err(Error::Conflict(_))), "{back:?}");
        let missing = store
            .set_status("com.example/w", "9.9.9", Status::Blocked, "cli:admin")
            .await;
        assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
        store
            .set_status("com.example/w", "1.0.0", Status::Deprecated, "cli:carol")
            .await?;
        let history = store.history(Some("com.example/w")).await?;
        let steps: Vec<(&str, &str, Option<&str>)> = history
            .iter()
            .map(|e| (e.action.as_str(), e.actor.as_str(), e.previous.as_deref()))
            .collect();
        assert_eq!(
            steps,
            [
                ("publish", "alice", None),
                ("approve", "cli:admin", Some("pending")),
                ("deprecate", "cli:carol", Some("approved")),
            ]
        );
        // Deprecated stays listed and the latest.
        assert!(store.get("com.example/w", "latest", false).await?.is_some());
        Ok(())
    }

    #[tokio::test]
    async fn pages_chain_through_everything_once() -> Result<(), Error> {
        let store = store();
        let mut expected = Vec::new();
        for name in ["com.a/one", "com.b/two", "com.c/three"] {
            for version in ["1.0.0", "1.1.0", "2.0.0"] {
                approved(&store, name, version).await?;
                expected.push(format!("{name}@{version}"));
            }
        }
        store
            .publish(document("com.d/hidden", "1.0.0"), "alice")
            .await?;
        let mut seen = Vec::new();
        let mut cursor = None;
        for _ in 0..10 {
            let page = store
                .list(ListQuery {
                    cursor: cursor.take(),
                    limit: 4,
                    ..ListQuery::default()
                })
                .await?;
            assert!(page.entries.len() <= 4);
            seen.extend(
                page.entries
                    .iter()
                    .map(|e| format!("{}@{}", e.name, e.version)),
            );
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected);
        for bad in ["%%%", "bm8tbmV3bGluZQ", ""] {
            let result = store
                .list(ListQuery {
                    cursor: Some(bad.into()),
                    limit: 4,
                    ..ListQuery::default()
                })
                .await;
            if bad.is_empty() {
                continue;
            }
            assert!(
                matches!(result, Err(Error::BadRequest(_))),
                "{bad}: {result:?}"
            );
        }
        Ok(())
    }

    #[tokio::test]
    async fn search_version_and_updated_since_filter() -> Result<(), Error> {
        let store = store();
        approved(&store, "com.example/Weather", "1.0.0").await?;
        approved(&store, "com.example/weather_100", "2.0.0").await?;
        let newer = approved(&store, "com.example/stock", "1.0.0").await?;
        approved(&store, "com.example/stock", "1.1.0").await?;
        let names = |page: Page| -> Vec<String> {
            page.entries
                .iter()
                .map(|e| format!("{}@{}", e.name, e.version))
                .collect()
        };
        let query = |f: fn(&mut ListQuery)| {
            let mut q = ListQuery {
                limit: 100,
                ..ListQuery::default()
            };
            f(&mut q);
            q
        };
        let found = names(
            store
                .list(query(|q| q.search = Some("WEATHER".into())))
                .await?,
        );
        assert_eq!(
            found,
            ["com.example/Weather@1.0.0", "com.example/weather_100@2.0.0"]
        );
        // `_` and `%` are literal, not wildcards.
        let found = names(store.list(query(|q| q.search = Some("r_1".into()))).await?);
        assert_eq!(found, ["com.example/weather_100@2.0.0"]);
        assert!(names(store.list(query(|q| q.search = Some("%".into()))).await?).is_empty());
        let latest = names(
            store
                .list(query(|q| q.version = Some("latest".into())))
                .await?,
        );
        assert_eq!(
            latest,
            [
                "com.example/Weather@1.0.0",
                "com.example/stock@1.1.0",
                "com.example/weather_100@2.0.0"
            ]
        );
        let exact = names(
            store
                .list(query(|q| q.version = Some("1.0.0".into())))
                .await?,
        );
        assert_eq!(
            exact,
            ["com.example/Weather@1.0.0", "com.example/stock@1.0.0"]
        );
        let mut since = query(|_| {});
        since.updated_since = Some(newer.updated_at);
        // stock 1.0.0 lost the latest flag to 1.1.0 after `newer`: both changed since.
        assert_eq!(
            names(store.list(since).await?),
            ["com.example/stock@1.0.0", "com.example/stock@1.1.0"]
        );
        Ok(())
    }

    #[test]
    fn timestamps_round_trip_through_rfc3339() -> Result<(), Error> {
        let now = now_micros();
        assert_eq!(parse_rfc3339(&rfc3339(now))?, now);
        assert_eq!(
            parse_rfc3339("2025-08-07T13:15:04.280Z")?,
            1_754_572_504_280_000
        );
        assert!(matches!(
            parse_rfc3339("yesterday"),
            Err(Error::BadRequest(_))
        ));
        Ok(())
    }
}
