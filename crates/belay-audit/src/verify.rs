//! `belay audit verify`: walking every file and the store under the key, and comparing the
//! log's end with its head file.
//!
//! A chain alone cannot show records cut from its end, and someone who can write the data
//! folder can cut both sinks alike; [`verify_configured`] therefore also compares the end
//! with the head file the writer keeps beside the key ([`Checkpoint`]), read before the log
//! so a writer running meanwhile cannot make a sound log look cut.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::Path,
    sync::Arc,
};

use belay_store::{Db, rusqlite};

use crate::{
    AuditKey, AuditSpec, Error, Head, Problem, ProblemKind, Record, Report, Sink,
    chain::{self, LineError},
    checkpoint::{Checkpoint, CheckpointFile},
    file::log_files,
    store::sql_int,
    walk::{Walker, line_problem},
};

/// Verifies the JSON-lines log whose current file is `path`: its rotated files, oldest
/// first, then the current one, as one chain under `key`. I/O failures (no file at all
/// included) are errors; tampering is reported in the [`Report`].
pub fn verify_file(path: &Path, key: &AuditKey) -> Result<Report, Error> {
    if log_files(path)?.is_empty() {
        return Err(Error::io(path, std::io::ErrorKind::NotFound.into()));
    }
    walk_files(path, Some(key), None, None)
}

/// Walks the files (none: an empty log) from `start` (`None`: wherever the oldest kept
/// record continues from), checking `known` on the way.
fn walk_files(
    path: &Path,
    key: Option<&AuditKey>,
    start: Option<Head>,
    known: Option<Head>,
) -> Result<Report, Error> {
    let mut walker = Walker::new(Sink::File, start, known);
    'files: for file_path in log_files(path)? {
        let file = File::open(&file_path).map_err(|e| Error::io(&file_path, e))?;
        let shared: Arc<Path> = Arc::from(file_path.as_path());
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        let mut n = 0u64;
        loop {
            buf.clear();
            let read = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::io(&file_path, e))?;
            if read == 0 {
                break;
            }
            n += 1;
            let place = Some((Arc::clone(&shared), n));
            let item = if buf.last() != Some(&b'\n') {
                Err(Problem {
                    seq: 0,
                    sink: "file",
                    file: Some(file_path.clone()),
                    line: Some(n),
                    kind: ProblemKind::Truncated,
                    detail: "the last line is incomplete: the file was cut mid-record".into(),
                })
            } else {
                let line = std::str::from_utf8(&buf[..buf.len() - 1])
                    .map_err(|_| LineError::Malformed("the line is not UTF-8".into()));
                line.and_then(|text| chain::open(text, key))
                    .map_err(|e| line_problem(Sink::File, place.clone(), e))
            };
            if !walker.push((place, item)) {
                break 'files;
            }
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

/// Verifies the `audit_records` table under `key`, including that its indexed columns still
/// match each sealed line (so queries cannot be misled by editing a column).
pub async fn verify_store(db: &Db, key: &AuditKey) -> Result<Report, Error> {
    walk_store(db, Some(key), None).await
}

async fn walk_store(db: &Db, key: Option<&AuditKey>, known: Option<Head>) -> Result<Report, Error> {
    let mut walker = Walker::new(Sink::Store, Some(Head::genesis()), known);
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
            let item = chain::open(&row.line, key)
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
        file: None,
        line: None,
        kind: ProblemKind::Edited,
        detail: format!(
            "record {} was edited: column {} no longer matches the sealed record",
            r.seq,
            changed.join(", ")
        ),
    })
}

/// Verifies both sinks under `key`, then checks they end at the same record: a chain cut at
/// its end is visible against the other copy (and, in [`verify_configured`], the head file).
pub async fn verify_both(path: &Path, db: &Db, key: &AuditKey) -> Result<Report, Error> {
    let file = verify_file(path, key)?;
    let store = verify_store(db, key).await?;
    Ok(join(file, store))
}

fn join(file: Report, store: Report) -> Report {
    if !file.is_ok() {
        return file;
    }
    if !store.is_ok() {
        return store;
    }
    if file.head.seq < store.head.seq {
        file.check_head(&store.head, Sink::File)
    } else {
        store.check_head(&file.head, Sink::Store)
    }
}

/// `belay audit verify`: reads the key (never creating one), then checks the sinks `spec`
/// enables under it, that they end at the same record, and that the log reaches the record
/// its head file names. `db` is needed only when the store sink is enabled.
pub async fn verify_configured(
    spec: &AuditSpec,
    data_dir: &Path,
    db: Option<&Db>,
) -> Result<Report, Error> {
    let nothing = || Error::Config("audit sinks is empty: nothing to verify".into());
    if spec.sinks.is_empty() {
        return Err(nothing());
    }
    let db = if spec.has(Sink::Store) {
        Some(db.ok_or_else(|| {
            Error::Config("audit sink \"store\" is enabled but no database was given".into())
        })?)
    } else {
        None
    };
    let key = match AuditKey::load(&spec.key_path()?) {
        Ok(key) => key,
        Err(missing @ Error::KeyMissing { .. }) => {
            return verify_unkeyed(spec, data_dir, db, missing).await;
        }
        Err(e) => return Err(e),
    };
    let heads = CheckpointFile::new(spec, data_dir, key.path());
    let known = heads.read()?;
    if let Some(known) = &known
        && known.key != key.id()
    {
        return Ok(other_key(known, &key, heads.path()));
    }
    let path = spec.has(Sink::File).then(|| spec.file_in(data_dir));
    let from = known.as_ref().map(|c| c.from.clone());
    let known_head = known.as_ref().map(|c| c.head.clone());
    let mut report = walk_sinks(path.as_deref(), db, Some(&key), from, known_head)
        .await?
        .ok_or_else(nothing)?;
    report.notes = notes(&report, known.as_ref(), Some(heads.path()));
    for (path, gone) in heads.gone() {
        report.notes.push(format!(
            "an earlier log here, of {} records, is gone: its folder was reset or it was \
             removed; its last head is kept in {}",
            gone.head.seq,
            path.display()
        ));
    }
    Ok(report)
}

/// Walks the sinks given and joins their reports; `None` when none is given.
async fn walk_sinks(
    path: Option<&Path>,
    db: Option<&Db>,
    key: Option<&AuditKey>,
    from: Option<Head>,
    known: Option<Head>,
) -> Result<Option<Report>, Error> {
    let file = path
        .map(|p| walk_files(p, key, from, known.clone()))
        .transpose()?;
    let store = match db {
        Some(db) => Some(walk_store(db, key, known).await?),
        None => None,
    };
    Ok(match (file, store) {
        (Some(file), Some(store)) => Some(join(file, store)),
        (one, None) | (None, one) => one,
    })
}

/// Without a key, a log written before audit keys (every record unkeyed) can still be
/// checked; one with keyed records cannot, and `missing` says where the key was looked for.
async fn verify_unkeyed(
    spec: &AuditSpec,
    data_dir: &Path,
    db: Option<&Db>,
    missing: Error,
) -> Result<Report, Error> {
    let path = spec.has(Sink::File).then(|| spec.file_in(data_dir));
    let Some(mut report) = walk_sinks(path.as_deref(), db, None, None, None).await? else {
        return Err(missing);
    };
    if report.records > report.legacy
        || report
            .problem
            .as_ref()
            .is_some_and(|p| p.kind == ProblemKind::OtherKey)
    {
        return Err(missing);
    }
    report.notes = notes(&report, None, None);
    Ok(report)
}

fn other_key(known: &Checkpoint, key: &AuditKey, heads: &Path) -> Report {
    Report {
        records: 0,
        head: Head::genesis(),
        problem: Some(Problem {
            seq: known.head.seq,
            sink: "head file",
            file: Some(heads.to_owned()),
            line: None,
            kind: ProblemKind::OtherKey,
            detail: format!(
                "the log was sealed with key {}, but {} holds key {}: point [audit] key_file at \
                 the log's key",
                known.key,
                key.path().display(),
                key.id()
            ),
        }),
        legacy: 0,
        first: 0,
        notes: Vec::new(),
    }
}

/// What a sound report still cannot vouch for; `heads` is where the head file would be.
fn notes(report: &Report, known: Option<&Checkpoint>, heads: Option<&Path>) -> Vec<String> {
    let mut notes = Vec::new();
    let keyed = report.records - report.legacy;
    if report.legacy > 0 && keyed > 0 {
        notes.push(format!(
            "records {}..={} are unkeyed (written before audit keys); record {}, the first \
             keyed one, links to them and so seals them",
            report.first,
            report.first + report.legacy - 1,
            report.first + report.legacy
        ));
    } else if report.legacy > 0 && report.problem.is_none() {
        notes.push(format!(
            "all {} records are unkeyed (written before audit keys): anyone who can write the \
             data folder could rewrite them; the next record the gateway writes seals them",
            report.legacy
        ));
    }
    if let (None, Some(heads)) = (known, heads)
        && report.records > 0
    {
        notes.push(format!(
            "no head file at {}: records cut from the end of both sinks would not show (it \
             is written with the next record)",
            heads.display()
        ));
        if report.first > 1 {
            notes.push(format!(
                "records before {} are not in the files (rotated away, or deleted)",
                report.first
            ));
        }
    }
    notes
}
