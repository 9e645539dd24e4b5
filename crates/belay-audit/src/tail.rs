//! `belay audit tail [--follow]`: records as a stream, from the files or the store.
//!
//! Following polls (every [`TailOptions::poll`]) rather than using file notifications, so it
//! works the same for a file and for SQLite written by another process. A file is read
//! through its open handle, so when the writer rotates it (renames it and starts a new one)
//! the rest of the old file is still read, then the new one from its start. Each line is
//! checked on its own (its seal too when [`TailOptions::key`] is given); a broken one is
//! yielded as an error and the stream goes on.

use std::{
    collections::VecDeque,
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    time::Duration,
};

use belay_store::Db;
use futures::{StreamExt, stream::BoxStream};

use crate::{AuditKey, Error, Record, chain, file::log_files, store};

/// What [`tail_file`] and [`tail_store`] return.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Start with only the last `n` records; `None` starts from the first.
    pub last: Option<usize>,
    /// Keep waiting for new records after the current end.
    pub follow: bool,
    /// How often to look for new records when following.
    pub poll: Duration,
    /// Checks each record's seal under this key; without it only each line's form (and a
    /// legacy record's plain hash) is checked.
    pub key: Option<AuditKey>,
}

impl Default for TailOptions {
    fn default() -> Self {
        Self {
            last: Some(10),
            follow: false,
            poll: Duration::from_millis(250),
            key: None,
        }
    }
}

type Item = Result<Record, Error>;

/// A file being read, through its handle.
struct Reading {
    file: File,
    id: Option<(u64, u64)>,
    pos: u64,
}

struct FileState {
    path: PathBuf,
    key: Option<AuditKey>,
    reading: Option<Reading>,
    partial: Vec<u8>,
    started: bool,
    last: Option<usize>,
}

/// Device and inode: a rotated file keeps them, its replacement has new ones.
#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

impl FileState {
    /// Reads what was appended since the last call and returns the complete records.
    fn read_new(&mut self) -> Result<Vec<Item>, Error> {
        if !self.started {
            self.started = true;
            return self.read_start();
        }
        self.read_current()
    }

    /// The first read: the current file, and as many rotated ones before it as `last` needs.
    fn read_start(&mut self) -> Result<Vec<Item>, Error> {
        let files = log_files(&self.path)?;
        if files.is_empty() {
            return Err(Error::io(&self.path, std::io::ErrorKind::NotFound.into()));
        }
        let current = self.read_current()?;
        let mut older: VecDeque<Item> = VecDeque::new();
        for rotated in files.iter().rev().filter(|f| **f != self.path) {
            if self.last.is_some_and(|n| older.len() + current.len() >= n) {
                break;
            }
            let mut text = Vec::new();
            File::open(rotated)
                .and_then(|mut f| f.read_to_end(&mut text))
                .map_err(|e| Error::io(rotated, e))?;
            for item in parse_lines(&text, self.key.as_ref()).into_iter().rev() {
                older.push_front(item);
            }
        }
        let mut items: Vec<Item> = older.into_iter().chain(current).collect();
        if let Some(n) = self.last {
            items.drain(..items.len().saturating_sub(n));
        }
        Ok(items)
    }

    /// What was appended to the current file; across a rotation, the end of the old file
    /// and then the new one.
    fn read_current(&mut self) -> Result<Vec<Item>, Error> {
        let mut items = Vec::new();
        loop {
            if self.reading.is_none() {
                match File::open(&self.path) {
                    Ok(file) => {
                        let meta = file.metadata().map_err(|e| Error::io(&self.path, e))?;
                        self.reading = Some(Reading {
                            file,
                            id: file_id(&meta),
                            pos: 0,
                        });
                    }
                    // Between a rotation's rename and the new file: wait for it.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(items),
                    Err(e) => return Err(Error::io(&self.path, e)),
                }
            }
            let Some(reading) = self.reading.as_mut() else {
                return Ok(items);
            };
            let len = reading
                .file
                .metadata()
                .map_err(|e| Error::io(&self.path, e))?
                .len();
            if len < reading.pos {
                return Err(Error::BadRecord(format!(
                    "{} shrank from {} to {len} bytes while being followed: it was cut or replaced",
                    self.path.display(),
                    reading.pos
                )));
            }
            let mut buf = Vec::new();
            reading
                .file
                .seek(SeekFrom::Start(reading.pos))
                .and_then(|_| reading.file.read_to_end(&mut buf))
                .map_err(|e| Error::io(&self.path, e))?;
            reading.pos += buf.len() as u64;
            self.partial.extend_from_slice(&buf);
            if let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') {
                let rest = self.partial.split_off(end + 1);
                let complete = std::mem::replace(&mut self.partial, rest);
                items.extend(parse_lines(&complete, self.key.as_ref()));
            }
            let rotated = match std::fs::metadata(&self.path) {
                Ok(meta) => file_id(&meta) != reading.id,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(Error::io(&self.path, e)),
            };
            if !rotated {
                return Ok(items);
            }
            // Rotated: everything of the old file was just read; go on with the new one.
            if !self.partial.is_empty() {
                self.partial.clear();
                items.push(Err(Error::BadRecord(format!(
                    "a rotated part of {} ends mid-record",
                    self.path.display()
                ))));
            }
            self.reading = None;
        }
    }
}

fn parse_lines(text: &[u8], key: Option<&AuditKey>) -> Vec<Item> {
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| parse(l, key))
        .collect()
}

fn parse(line: &[u8], key: Option<&AuditKey>) -> Item {
    let text = std::str::from_utf8(line)
        .map_err(|_| Error::BadRecord("an audit line is not UTF-8".into()))?;
    chain::open(text, key).map_err(|e| Error::BadRecord(e.to_string()))
}

/// Streams the records of the JSON-lines log whose current file is `path`, rotated files
/// included (see [`TailOptions`]). No file at all is an error, not an empty stream, so a
/// wrong path is noticed.
pub fn tail_file(path: &Path, opts: TailOptions) -> BoxStream<'static, Item> {
    let state = FileState {
        path: path.to_owned(),
        key: opts.key.clone(),
        reading: None,
        partial: Vec::new(),
        started: false,
        last: opts.last,
    };
    poll_stream(state, opts, |mut s| async move {
        match tokio::task::spawn_blocking(move || {
            let r = s.read_new();
            (s, r)
        })
        .await
        {
            Ok((s, r)) => (Some(s), r),
            Err(e) => (
                None,
                Err(Error::BadRecord(format!("tail task failed: {e}"))),
            ),
        }
    })
}

struct StoreState {
    db: Db,
    key: Option<AuditKey>,
    after: u64,
    started: bool,
    last: Option<usize>,
}

/// Streams the records of the store's `audit_records` table (see [`TailOptions`]).
pub fn tail_store(db: &Db, opts: TailOptions) -> BoxStream<'static, Item> {
    let state = StoreState {
        db: db.clone(),
        key: opts.key.clone(),
        after: 0,
        started: false,
        last: opts.last,
    };
    poll_stream(state, opts, |mut s| async move {
        if !s.started {
            s.started = true;
            if let Some(n) = s.last {
                let n = store::sql_int(n as u64);
                let start = s.db.call(move |c| {
                    c.query_row(
                        "SELECT coalesce(min(seq), 1) - 1 FROM
                         (SELECT seq FROM audit_records ORDER BY seq DESC LIMIT ?1)",
                        [n],
                        |r| r.get::<_, i64>(0),
                    )
                });
                match start.await {
                    Ok(v) => s.after = u64::try_from(v).unwrap_or(0),
                    Err(e) => return (Some(s), Err(e.into())),
                }
            }
        }
        let after = s.after;
        let rows = s.db.call(move |c| store::lines_after(c, after, 500)).await;
        match rows {
            Ok(rows) => {
                if let Some((seq, _)) = rows.last() {
                    s.after = u64::try_from(*seq).unwrap_or(s.after);
                }
                let items = rows
                    .iter()
                    .map(|(_, l)| parse(l.as_bytes(), s.key.as_ref()))
                    .collect();
                (Some(s), Ok(items))
            }
            Err(e) => (Some(s), Err(e.into())),
        }
    })
}

/// Turns a "fetch what is new" step into a stream: fetches until one returns nothing (caught
/// up), then ends, or when following sleeps and fetches again. A fetch error is yielded
/// once and ends the stream.
fn poll_stream<S, F, Fut>(state: S, opts: TailOptions, fetch: F) -> BoxStream<'static, Item>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (Option<S>, Result<Vec<Item>, Error>)> + Send + 'static,
{
    let (follow, poll) = (opts.follow, opts.poll);
    let init = (Some(state), VecDeque::<Item>::new(), false);
    futures::stream::unfold(init, move |(mut state, mut queue, mut caught_up)| {
        let fetch = fetch.clone();
        async move {
            loop {
                if let Some(item) = queue.pop_front() {
                    return Some((item, (state, queue, caught_up)));
                }
                let s = state.take()?;
                if caught_up {
                    if !follow {
                        return None;
                    }
                    tokio::time::sleep(poll).await;
                }
                let (s, fetched) = fetch(s).await;
                match fetched {
                    Ok(items) => {
                        caught_up = items.is_empty();
                        queue.extend(items);
                        state = s;
                    }
                    Err(e) => return Some((Err(e), (None, queue, caught_up))),
                }
            }
        }
    })
    .boxed()
}
