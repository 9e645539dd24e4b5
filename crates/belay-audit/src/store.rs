//! The SQLite sink (table `audit_records` in the shared store) and [`query`] over it.
//!
//! Each row keeps the exact sealed line, so verification needs nothing else, plus copies of
//! the fields queries filter on; [`crate::verify_store`] checks the copies match the line.

use belay_store::{
    Db,
    rusqlite::{self, OptionalExtension, Transaction, types::Value as SqlValue},
};
use chrono::{DateTime, Utc};

use crate::{AuditKey, Decision, Error, Record, chain};

/// Migration steps of component `audit`. Append-only.
const STEPS: &[&str] = &[r"
CREATE TABLE audit_records (
    seq      INTEGER PRIMARY KEY,
    time_us  INTEGER NOT NULL,
    user     TEXT,
    client   TEXT,
    upstream TEXT,
    method   TEXT NOT NULL,
    name     TEXT,
    decision TEXT NOT NULL,
    hash     TEXT NOT NULL,
    line     TEXT NOT NULL
);
CREATE INDEX audit_records_time ON audit_records (time_us);
CREATE INDEX audit_records_user ON audit_records (user, seq);
CREATE INDEX audit_records_client ON audit_records (client, seq);
CREATE INDEX audit_records_upstream ON audit_records (upstream, seq);
CREATE INDEX audit_records_name ON audit_records (name, seq);
"];

/// Creates or upgrades the audit table in `db`.
pub fn migrate(db: &Db) -> Result<(), Error> {
    Ok(db.migrate("audit", STEPS)?)
}

pub(crate) fn insert(tx: &Transaction<'_>, record: &Record, line: &str) -> rusqlite::Result<()> {
    let e = &record.event;
    tx.prepare_cached(
        "INSERT INTO audit_records
             (seq, time_us, user, client, upstream, method, name, decision, hash, line)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(rusqlite::params![
        sql_int(record.seq),
        e.time.timestamp_micros(),
        e.user,
        e.client,
        e.upstream,
        e.method,
        e.name,
        e.decision.as_str(),
        record.hash,
        line,
    ])?;
    Ok(())
}

/// The last record, if the table has any rows, checked on its own under `key`.
pub(crate) fn last(db: &Db, key: &AuditKey) -> Result<Option<Record>, Error> {
    let line: Option<String> = db.call_blocking(|c| {
        c.query_row(
            "SELECT line FROM audit_records ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
    })?;
    line.map(|line| {
        chain::open(&line, Some(key)).map_err(|e| {
            Error::Resume(format!(
                "the last record in the store is broken ({e}); run `belay audit verify`"
            ))
        })
    })
    .transpose()
}

pub(crate) fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Filters for [`query`]; every set field must match. Build with `Query::default()` and
/// struct update syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Records at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Records strictly before this time.
    pub until: Option<DateTime<Utc>>,
    /// Exact user.
    pub user: Option<String>,
    /// Exact client id.
    pub client: Option<String>,
    /// Exact upstream name.
    pub upstream: Option<String>,
    /// Exact tool, prompt or resource name.
    pub name: Option<String>,
    /// Exact JSON-RPC method.
    pub method: Option<String>,
    /// Decision.
    pub decision: Option<Decision>,
    /// Page size (at most 1000).
    pub limit: usize,
    /// Newest first (the default) or oldest first.
    pub newest_first: bool,
    /// Continue after this sequence number: pass the previous page's `next`.
    pub cursor: Option<u64>,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            since: None,
            until: None,
            user: None,
            client: None,
            upstream: None,
            name: None,
            method: None,
            decision: None,
            limit: 100,
            newest_first: true,
            cursor: None,
        }
    }
}

/// One page of [`query`] results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Matching records in the requested order.
    pub records: Vec<Record>,
    /// Cursor for the next page; `None` when this is the last one.
    pub next: Option<u64>,
}

/// Most rows one page returns, whatever `limit` says.
pub const MAX_PAGE: usize = 1000;

/// Runs `q` against the store. Rows whose line no longer parses are skipped (and reported
/// by `verify_store`), so a damaged row cannot make the whole query fail. Seals are not
/// checked here (that needs the key): `belay audit verify` proves what a query shows.
pub async fn query(db: &Db, q: &Query) -> Result<Page, Error> {
    let mut sql = String::from("SELECT seq, line FROM audit_records WHERE 1=1");
    let mut args: Vec<SqlValue> = Vec::new();
    let mut push = |clause: &str, v: SqlValue| {
        args.push(v);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(t) = q.since {
        push("time_us >=", SqlValue::Integer(t.timestamp_micros()));
    }
    if let Some(t) = q.until {
        push("time_us <", SqlValue::Integer(t.timestamp_micros()));
    }
    for (col, v) in [
        ("user =", &q.user),
        ("client =", &q.client),
        ("upstream =", &q.upstream),
        ("name =", &q.name),
        ("method =", &q.method),
    ] {
        if let Some(v) = v {
            push(col, SqlValue::Text(v.clone()));
        }
    }
    if let Some(d) = q.decision {
        push("decision =", SqlValue::Text(d.as_str().to_owned()));
    }
    if let Some(c) = q.cursor {
        let op = if q.newest_first { "seq <" } else { "seq >" };
        push(op, SqlValue::Integer(sql_int(c)));
    }
    let limit = q.limit.clamp(1, MAX_PAGE);
    sql.push_str(if q.newest_first {
        " ORDER BY seq DESC"
    } else {
        " ORDER BY seq ASC"
    });
    // One extra row tells whether another page exists.
    sql.push_str(&format!(" LIMIT {}", limit + 1));
    let rows: Vec<(i64, String)> = db
        .call(move |c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect()
        })
        .await?;
    let next = if rows.len() > limit {
        rows.get(limit - 1)
            .and_then(|(seq, _)| u64::try_from(*seq).ok())
    } else {
        None
    };
    let records: Vec<Record> = rows
        .iter()
        .take(limit)
        .filter_map(|(_, l)| chain::open(l, None).ok())
        .collect();
    Ok(Page { records, next })
}

/// Lines with `seq > after`, oldest first, at most `limit` (for tail and verify).
pub(crate) fn lines_after(
    conn: &rusqlite::Connection,
    after: u64,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, line FROM audit_records WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![sql_int(after), sql_int(limit as u64)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    rows.collect()
}
