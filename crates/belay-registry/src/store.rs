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
use serde_json::{Value, json};

mod events;
mod model;
mod read;
mod schema;

pub use model::{Entry, Event, ListQuery, Page, Review, ServerList, Status, Submission, Unaudited};
use schema::STEPS;

use crate::{Error, scan::ScanReport};

/// Most owners one server may have.
const MAX_OWNERS: usize = 20;

/// Most tags one server may have.
const MAX_TAGS: usize = 20;

/// Most versions one server may have (the official registry's limit too).
const MAX_VERSIONS: i64 = 10_000;

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

/// The columns [`entry`] reads, from the `registry_rows` view (a version with its server's
/// owners and tags).
const COLUMNS: &str = "id, name, version, document, status, owner, published_at, updated_at, \
                       is_latest, scan, provenance, owners, tags";

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
        scan: row
            .get::<_, Option<String>>(9)?
            .and_then(|text| serde_json::from_str(&text).ok()),
        provenance: row
            .get::<_, Option<String>>(10)?
            .and_then(|text| serde_json::from_str(&text).ok()),
        owners: json_list(&row.get::<_, String>(11)?),
        tags: json_list(&row.get::<_, String>(12)?),
    })
}

/// A stored JSON array of strings; a damaged one reads as empty.
fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
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

    /// Stores a new version of the server the submission describes, as `pending`, with its
    /// scan. The first version of a server makes its publisher the owner; a later one must
    /// come from an owner ([`Error::Forbidden`]). A version that exists is
    /// [`Error::Duplicate`].
    pub async fn publish(&self, submission: Submission) -> Result<Entry, Error> {
        let document = &submission.document;
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
        let owner = submission.publisher;
        let text = document.to_string();
        let scan = serde_json::to_string(&submission.scan)
            .map_err(|e| Error::Store(format!("cannot store the scan: {e}")))?;
        let provenance = submission.provenance.as_ref().map(Value::to_string);
        // The history (and so the audit log) says what the scan found at submission.
        let scan_line = format!("scan: {}", submission.scan.summary());
        let reason = Some(
            match submission
                .provenance
                .as_ref()
                .and_then(|p| p.get("source"))
                .and_then(Value::as_str)
            {
                Some(source) => format!("imported from {source}; {scan_line}"),
                None => scan_line,
            },
        );
        self.db
            .call(move |c| {
                let tx = belay_store::write_transaction(c)?;
                let owners: Option<String> = tx
                    .query_row(
                        "SELECT owners FROM registry_servers WHERE name = ?1",
                        [&name],
                        |r| r.get(0),
                    )
                    .optional()?;
                match owners.as_deref().map(json_list) {
                    Some(owners) if !owners.contains(&owner) => {
                        return Ok(Err(Error::Forbidden(format!(
                            "{name} belongs to {}: `{owner}` is not an owner; an owner adds \
                             you with `belay registry owners {name} --add {owner}`",
                            owners.join(", ")
                        ))));
                    }
                    Some(_) => {}
                    None => {
                        tx.execute(
                            "INSERT INTO registry_servers (name, owners) VALUES (?1, ?2)",
                            params![name, json!([owner]).to_string()],
                        )?;
                    }
                }
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
                         (name, version, document, status, owner, published_at, updated_at,
                          scan, provenance)
                     VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?5, ?6, ?7)",
                    params![name, version, text, owner, now, scan, provenance],
                )?;
                let entry = commit_version_change(
                    tx,
                    &Change {
                        at: now,
                        name: &name,
                        version: &version,
                        action: "publish",
                        actor: &owner,
                        status: Status::Pending.as_str(),
                        previous: None,
                        reason: reason.as_deref(),
                    },
                )?;
                Ok(entry.ok_or_else(|| Error::Store("the new version vanished".into())))
            })
            .await?
    }

    /// Sets the status of `name@version`, recording the review. Setting the status it has
    /// is [`Error::Conflict`]; a version cannot go back to `pending`; approving a version
    /// whose scan found high or critical issues needs [`Review::override_reason`] (recorded
    /// as an `override`).
    pub async fn set_status(
        &self,
        name: &str,
        version: &str,
        status: Status,
        review: &Review,
    ) -> Result<Entry, Error> {
        if status == Status::Pending {
            return Err(Error::Conflict(
                "a reviewed version cannot go back to pending".into(),
            ));
        }
        if let Some(reason) = &review.override_reason {
            if status != Status::Approved {
                return Err(Error::BadRequest(
                    "--override applies to approve only".into(),
                ));
            }
            check_reason(reason)?;
        }
        let (name, version, review) = (name.to_owned(), version.to_owned(), review.clone());
        self.db
            .call(move |c| {
                let tx = belay_store::write_transaction(c)?;
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
                let overriding = status == Status::Approved && before.needs_override();
                if overriding && review.override_reason.is_none() {
                    let summary = before
                        .scan
                        .as_ref()
                        .map(ScanReport::summary)
                        .unwrap_or_default();
                    return Ok(Err(Error::Conflict(format!(
                        "{name}@{version} cannot be approved: its scan at submission found \
                         {summary} (see `belay registry history {name}` or `list --json`); \
                         approve anyway with `--override --reason \"…\"`, which is audited"
                    ))));
                }
                let now = now_micros();
                tx.execute(
                    "UPDATE registry_versions SET status = ?3, updated_at = ?4
                     WHERE name = ?1 AND version = ?2",
                    params![name, version, status.as_str(), now],
                )?;
                let action = match status {
                    Status::Approved if overriding => "override",
                    Status::Approved => "approve",
                    Status::Deprecated => "deprecate",
                    Status::Blocked | Status::Pending => "block",
                };
                let entry = commit_version_change(
                    tx,
                    &Change {
                        at: now,
                        name: &name,
                        version: &version,
                        action,
                        actor: &review.actor,
                        status: status.as_str(),
                        previous: Some(before.status.as_str()),
                        reason: review.override_reason.as_deref(),
                    },
                )?;
                Ok(entry.ok_or_else(|| Error::Store("the version vanished".into())))
            })
            .await?
    }

    /// Adds and removes owners or tags of `name` (every version), recording `actor`;
    /// returns the list after. A server keeps at least one owner.
    pub async fn change(
        &self,
        name: &str,
        list: ServerList,
        add: &[String],
        remove: &[String],
        actor: &str,
    ) -> Result<Vec<String>, Error> {
        for item in add {
            match list {
                ServerList::Owners => check_owner(item)?,
                ServerList::Tags => check_tag(item)?,
            }
        }
        let max = match list {
            ServerList::Owners => MAX_OWNERS,
            ServerList::Tags => MAX_TAGS,
        };
        self.change_list(name, list.as_str(), add, remove, actor, max)
            .await
    }

    async fn change_list(
        &self,
        name: &str,
        column: &'static str,
        add: &[String],
        remove: &[String],
        actor: &str,
        max: usize,
    ) -> Result<Vec<String>, Error> {
        if add.is_empty() && remove.is_empty() {
            return Err(Error::BadRequest(format!(
                "nothing to change: give --add or --remove to change the {column}"
            )));
        }
        let (name, add, remove, actor) = (
            name.to_owned(),
            add.to_vec(),
            remove.to_vec(),
            actor.to_owned(),
        );
        self.db
            .call(move |c| {
                let tx = belay_store::write_transaction(c)?;
                let current: Option<String> = tx
                    .query_row(
                        &format!("SELECT {column} FROM registry_servers WHERE name = ?1"),
                        [&name],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(current) = current else {
                    return Ok(Err(Error::NotFound(format!(
                        "{name} is not in the registry"
                    ))));
                };
                let mut list = json_list(&current);
                for item in &remove {
                    if !list.contains(item) {
                        return Ok(Err(Error::BadRequest(format!(
                            "`{item}` is not among the {column} of {name} ({})",
                            list.join(", ")
                        ))));
                    }
                }
                list.retain(|item| !remove.contains(item));
                for item in add {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
                if column == "owners" && list.is_empty() {
                    return Ok(Err(Error::Conflict(format!(
                        "{name} must keep at least one owner: add another before removing the last"
                    ))));
                }
                if list.len() > max {
                    return Ok(Err(Error::BadRequest(format!(
                        "{name} would have {} {column}, more than {max}",
                        list.len()
                    ))));
                }
                let now = now_micros();
                tx.execute(
                    &format!("UPDATE registry_servers SET {column} = ?2 WHERE name = ?1"),
                    params![name, json!(list).to_string()],
                )?;
                // The versions' rows show owners and tags: a change is an update for syncs.
                tx.execute(
                    "UPDATE registry_versions SET updated_at = ?2 WHERE name = ?1",
                    params![name, now],
                )?;
                let shown = list.join(", ");
                record(
                    &tx,
                    &Change {
                        at: now,
                        name: &name,
                        version: "",
                        action: column,
                        actor: &actor,
                        status: "",
                        previous: None,
                        reason: Some(&shown),
                    },
                )?;
                tx.commit()?;
                Ok(Ok(list))
            })
            .await?
    }
}

fn get(c: &rusqlite::Connection, name: &str, version: &str) -> rusqlite::Result<Option<Entry>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM registry_rows WHERE name = ?1 AND version = ?2"),
        [name, version],
        entry,
    )
    .optional()
}

/// One change to record.
struct Change<'a> {
    at: i64,
    name: &'a str,
    version: &'a str,
    action: &'a str,
    actor: &'a str,
    status: &'a str,
    previous: Option<&'a str>,
    reason: Option<&'a str>,
}

fn record(tx: &Transaction<'_>, change: &Change<'_>) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO registry_events
             (at, name, version, action, actor, status, previous, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            change.at,
            change.name,
            change.version,
            change.action,
            change.actor,
            change.status,
            change.previous,
            change.reason,
        ],
    )?;
    Ok(())
}

/// Text a person typed that ends up in the history and the audit log: bounded, one line,
/// no control characters (which could forge lines in a terminal or a log).
fn check_text(what: &str, text: &str, max: usize) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::BadRequest(format!("the {what} is empty")));
    }
    if text.chars().count() > max {
        return Err(Error::BadRequest(format!(
            "the {what} is over {max} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::BadRequest(format!(
            "the {what} contains control characters"
        )));
    }
    Ok(())
}

/// A reason given with `--override`.
fn check_reason(reason: &str) -> Result<(), Error> {
    check_text("override reason", reason, 500)
}

/// An owner: a publisher as `[registry.namespaces]` names them (`alice`, `client:ci`).
fn check_owner(owner: &str) -> Result<(), Error> {
    check_text("owner", owner, 200)?;
    if owner.contains(char::is_whitespace) || owner.contains(',') {
        return Err(Error::BadRequest(format!(
            "owner `{owner}` has spaces or commas: give one publisher name (`alice`, `client:ci`)"
        )));
    }
    Ok(())
}

/// A tag: lowercase letters, digits, `-`, `.`, `_`, at most 64, starting with a letter or digit.
fn check_tag(tag: &str) -> Result<(), Error> {
    let ok = tag.len() <= 64
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && tag
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "tag `{}` is not valid: use up to 64 lowercase letters, digits, `-`, `.` or `_`",
            tag.chars().take(80).collect::<String>()
        )))
    }
}

/// The end of every change to one version: the change kept in the history, `latest` moved
/// to where it now belongs, the version read back, all in one commit.
fn commit_version_change(
    tx: Transaction<'_>,
    change: &Change<'_>,
) -> rusqlite::Result<Option<Entry>> {
    record(&tx, change)?;
    refresh_latest(&tx, change.name, change.at)?;
    let entry = get(&tx, change.name, change.version)?;
    tx.commit()?;
    Ok(entry)
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
mod tests;
