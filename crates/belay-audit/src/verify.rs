//! Walking a chain and naming the first broken record.
//!
//! The walk is streaming with one record of look-ahead (enough to tell a swapped pair from a
//! gap), so verifying a large file needs constant memory. A chain alone cannot show records
//! cut from its end; [`verify_both`] compares the file's and the store's heads, and a head
//! kept elsewhere ([`AuditLog::head`](crate::AuditLog::head)) can be checked with
//! [`Report::check_head`].

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::Path,
};

use belay_store::{Db, rusqlite};
use serde::Serialize;

use crate::{
    AuditSpec, Error, Head, Record, Sink,
    chain::{self, LineError},
    store::sql_int,
};

/// What is wrong with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The record's content no longer matches its own hash.
    Edited,
    /// The record does not link to the one before it: that one was replaced, or the chain
    /// was rewritten from here with recomputed hashes.
    BadLink,
    /// One or more records are absent.
    Missing,
    /// A record appears out of order, or twice.
    Reordered,
    /// A line or row is not a record at all (not JSON, no hash, bad fields).
    Malformed,
    /// The log ends early: a partial last line, or fewer records than the other sink.
    Truncated,
    /// File and store hold different records under the same number.
    Diverged,
}

/// The first broken record found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Sequence number of the broken (or first missing) record.
    pub seq: u64,
    /// Where: the file or the store.
    pub sink: &'static str,
    /// Line number in the file (from 1), for file problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What is wrong.
    pub kind: ProblemKind,
    /// The same, in words.
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Records checked and found sound before the first problem.
    pub records: u64,
    /// The last sound record.
    pub head: Head,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

impl Report {
    /// Whether the chain is intact.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }

    /// Checks an intact chain against a head recorded earlier (elsewhere): a log that no
    /// longer contains that record, or holds a different one under its number, was cut.
    pub fn check_head(mut self, known: &Head, sink: Sink) -> Self {
        if self.problem.is_some() || known.seq == 0 {
            return self;
        }
        let sink = sink_name(sink);
        if self.head.seq < known.seq {
            self.problem = Some(Problem {
                seq: self.head.seq + 1,
                sink,
                line: None,
                kind: ProblemKind::Truncated,
                detail: format!(
                    "the log ends at record {} but record {} existed: records {}..={} were cut",
                    self.head.seq,
                    known.seq,
                    self.head.seq + 1,
                    known.seq
                ),
            });
        } else if self.head.seq == known.seq && self.head.hash != known.hash {
            self.problem = Some(Problem {
                seq: known.seq,
                sink,
                line: None,
                kind: ProblemKind::Diverged,
                detail: format!("record {} is not the one recorded earlier", known.seq),
            });
        }
        self
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            None => write!(
                f,
                "ok: {} records, head {} {}",
                self.records, self.head.seq, self.head.hash
            ),
            Some(p) => {
                write!(f, "BROKEN at record {} in the {}", p.seq, p.sink)?;
                if let Some(line) = p.line {
                    write!(f, " (line {line})")?;
                }
                write!(
                    f,
                    ": {} ({} records sound before it)",
                    p.detail, self.records
                )
            }
        }
    }
}

fn sink_name(sink: Sink) -> &'static str {
    match sink {
        Sink::File => "file",
        Sink::Store => "store",
    }
}

/// One item of a walk: its position and either a record or why it is not one.
type Item = (Option<u64>, Result<Record, Problem>);

/// The chain walk, fed one item at a time; it judges each item once it has seen the next.
struct Walker {
    sink: &'static str,
    expect: Head,
    records: u64,
    pending: Option<Item>,
    problem: Option<Problem>,
}

impl Walker {
    fn new(sink: Sink) -> Self {
        Self {
            sink: sink_name(sink),
            expect: Head::genesis(),
            records: 0,
            pending: None,
            problem: None,
        }
    }

    /// Feeds the next item; returns false once a problem is found.
    fn push(&mut self, item: Item) -> bool {
        if let Some(current) = self.pending.replace(item) {
            let next = self
                .pending
                .as_ref()
                .and_then(|(_, r)| r.as_ref().ok())
                .map(|r| r.seq);
            self.problem = self.judge(current, next);
        }
        self.problem.is_none()
    }

    fn finish(mut self) -> Report {
        if self.problem.is_none()
            && let Some(current) = self.pending.take()
        {
            self.problem = self.judge(current, None);
        }
        Report {
            records: self.records,
            head: self.expect,
            problem: self.problem,
        }
    }

    fn problem(&self, seq: u64, line: Option<u64>, kind: ProblemKind, detail: String) -> Problem {
        Problem {
            seq,
            sink: self.sink,
            line,
            kind,
            detail,
        }
    }

    fn judge(&mut self, (line, item): Item, next: Option<u64>) -> Option<Problem> {
        let want = self.expect.seq + 1;
        let r = match item {
            Ok(r) => r,
            Err(mut p) => {
                if p.seq == 0 {
                    p.seq = want;
                }
                return Some(p);
            }
        };
        if r.seq == want {
            if r.prev != self.expect.hash {
                let detail = if want == 1 {
                    "record 1 does not start the chain (its prev is not the genesis hash)".into()
                } else {
                    format!(
                        "record {want} links to a record {} that is not the one present: record {} \
                         was replaced, or the chain was rewritten from here",
                        self.expect.seq, self.expect.seq
                    )
                };
                return Some(self.problem(r.seq, line, ProblemKind::BadLink, detail));
            }
            self.records += 1;
            self.expect = Head {
                seq: r.seq,
                hash: r.hash,
            };
            return None;
        }
        if r.seq > want {
            if next == Some(want) {
                let detail = format!("record {want} comes after record {}", r.seq);
                return Some(self.problem(want, line, ProblemKind::Reordered, detail));
            }
            let detail = if r.seq - 1 == want {
                format!(
                    "record {want} is missing (record {} follows record {})",
                    r.seq,
                    want - 1
                )
            } else {
                format!("records {want}..={} are missing", r.seq - 1)
            };
            return Some(self.problem(want, line, ProblemKind::Missing, detail));
        }
        let detail = if r.seq == self.expect.seq && r.hash == self.expect.hash {
            format!("record {} appears twice", r.seq)
        } else {
            format!("record {} comes after record {}", r.seq, self.expect.seq)
        };
        Some(self.problem(r.seq, line, ProblemKind::Reordered, detail))
    }
}

fn line_problem(sink: Sink, line: Option<u64>, e: LineError) -> Problem {
    let (seq, kind, detail) = match e {
        LineError::Malformed(why) => (0, ProblemKind::Malformed, why),
        LineError::BadHash { seq } => (
            seq,
            ProblemKind::Edited,
            format!("record {seq} was edited: its content no longer matches its hash"),
        ),
    };
    Problem {
        seq,
        sink: sink_name(sink),
        line,
        kind,
        detail,
    }
}

/// Verifies the JSON-lines file at `path`. I/O failures are errors; tampering is reported
/// in the [`Report`].
pub fn verify_file(path: &Path) -> Result<Report, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut walker = Walker::new(Sink::File);
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if read == 0 {
            break;
        }
        n += 1;
        let item = if buf.last() != Some(&b'\n') {
            Err(Problem {
                seq: 0,
                sink: "file",
                line: Some(n),
                kind: ProblemKind::Truncated,
                detail: "the last line is incomplete: the file was cut mid-record".into(),
            })
        } else {
            match std::str::from_utf8(&buf[..buf.len() - 1]) {
                Ok(text) => chain::open(text).map_err(|e| line_problem(Sink::File, Some(n), e)),
                Err(_) => Err(line_problem(
                    Sink::File,
                    Some(n),
                    LineError::Malformed("the line is not UTF-8".into()),
                )),
            }
        };
        if !walker.push((Some(n), item)) {
            break;
        }
    }
    Ok(walker.finish())
}

/// A store row: its key, the indexed copies, and the sealed line.
struct Row {
    seq: i64,
    columns: [Option<String>; 6],
    time_us: i64,
    line: String,
}

/// Verifies the `audit_records` table, including that its indexed columns still match each
/// sealed line (so queries cannot be misled by editing a column).
pub async fn verify_store(db: &Db) -> Result<Report, Error> {
    let mut walker = Walker::new(Sink::Store);
    let mut after = i64::MIN;
    loop {
        let rows: Vec<Row> = db
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, user, client, upstream, method, name, decision, time_us, line
                     FROM audit_records WHERE seq > ?1 ORDER BY seq LIMIT 1000",
                )?;
                let rows = stmt.query_map([after], |r| {
                    Ok(Row {
                        seq: r.get(0)?,
                        columns: [
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                        ],
                        time_us: r.get(7)?,
                        line: r.get(8)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in rows {
            let item = chain::open(&row.line)
                .map_err(|e| line_problem(Sink::Store, None, e))
                .and_then(|r| check_columns(&row, r));
            if !walker.push((None, item)) {
                return Ok(walker.finish());
            }
        }
    }
    Ok(walker.finish())
}

fn check_columns(row: &Row, r: Record) -> Result<Record, Problem> {
    // A row holding another record's line is a reorder: the walk reports it.
    if row.seq != sql_int(r.seq) {
        return Ok(r);
    }
    let e = &r.event;
    let sealed = [
        e.user.clone(),
        e.client.clone(),
        e.upstream.clone(),
        Some(e.method.clone()),
        e.name.clone(),
        Some(e.decision.as_str().to_owned()),
    ];
    let names = ["user", "client", "upstream", "method", "name", "decision"];
    let mut changed: Vec<&str> = names
        .iter()
        .zip(sealed.iter().zip(&row.columns))
        .filter(|(_, (a, b))| a != b)
        .map(|(n, _)| *n)
        .collect();
    if row.time_us != e.time.timestamp_micros() {
        changed.push("time_us");
    }
    if changed.is_empty() {
        return Ok(r);
    }
    Err(Problem {
        seq: r.seq,
        sink: "store",
        line: None,
        kind: ProblemKind::Edited,
        detail: format!(
            "record {} was edited: column {} no longer matches the sealed record",
            r.seq,
            changed.join(", ")
        ),
    })
}

/// Verifies both sinks, then checks they end at the same record: a chain cut at its end is
/// only visible against the other copy.
pub async fn verify_both(path: &Path, db: &Db) -> Result<Report, Error> {
    let file = verify_file(path)?;
    if !file.is_ok() {
        return Ok(file);
    }
    let store = verify_store(db).await?;
    if !store.is_ok() {
        return Ok(store);
    }
    Ok(if file.head.seq < store.head.seq {
        file.check_head(&store.head, Sink::File)
    } else {
        store.check_head(&file.head, Sink::Store)
    })
}

/// `belay audit verify`: checks the sinks `spec` enables, and that they end at the same record
/// when both are. `db` is needed only when the store sink is enabled.
pub async fn verify_configured(
    spec: &AuditSpec,
    data_dir: &Path,
    db: Option<&Db>,
) -> Result<Report, Error> {
    let path = spec.has(Sink::File).then(|| spec.file_in(data_dir));
    let db = if spec.has(Sink::Store) {
        Some(db.ok_or_else(|| {
            Error::Config("audit sink \"store\" is enabled but no database was given".into())
        })?)
    } else {
        None
    };
    match (path, db) {
        (Some(path), Some(db)) => verify_both(&path, db).await,
        (Some(path), None) => verify_file(&path),
        (None, Some(db)) => verify_store(db).await,
        (None, None) => Err(Error::Config(
            "audit sinks is empty: nothing to verify".into(),
        )),
    }
}
