//! `belay audit tail [--follow]`: records as a stream, from the file or the store.
//!
//! Following polls (every [`TailOptions::poll`]) rather than using file notifications, so it
//! works the same for a file and for SQLite written by another process. Each line is checked
//! against its own hash; a broken one is yielded as an error and the stream goes on.

use std::{
    collections::VecDeque,
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    time::Duration,
};

use belay_store::Db;
use futures::{StreamExt, stream::BoxStream};

use crate::{Error, Record, chain, store};

/// What [`tail_file`] and [`tail_store`] return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailOptions {
    /// Start with only the last `n` records; `None` starts from the first.
    pub last: Option<usize>,
    /// Keep waiting for new records after the current end.
    pub follow: bool,
    /// How often to look for new records when following.
    pub poll: Duration,
}

impl Default for TailOptions {
    fn default() -> Self {
        Self {
            last: Some(10),
            follow: false,
            poll: Duration::from_millis(250),
        }
    }
}

type Item = Result<Record, Error>;

struct FileState {
    path: PathBuf,
    pos: u64,
    partial: Vec<u8>,
    started: bool,
    last: Option<usize>,
}

impl FileState {
    /// Reads what was appended since the last call and returns the complete records.
    fn read_new(&mut self) -> Result<Vec<Item>, Error> {
        let mut file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        if len < self.pos {
            return Err(Error::BadRecord(format!(
                "{} shrank from {} to {len} bytes while being followed: it was cut or replaced",
                self.path.display(),
                self.pos
            )));
        }
        file.seek(SeekFrom::Start(self.pos))
            .map_err(|e| Error::io(&self.path, e))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)
            .map_err(|e| Error::io(&self.path, e))?;
        self.pos += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        let rest = self.partial.split_off(end + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        let mut items: Vec<Item> = complete
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(parse)
            .collect();
        if !self.started {
            self.started = true;
            if let Some(n) = self.last {
                items.drain(..items.len().saturating_sub(n));
            }
        }
        Ok(items)
    }
}

fn parse(line: &[u8]) -> Item {
    let text = std::str::from_utf8(line)
        .map_err(|_| Error::BadRecord("an audit line is not UTF-8".into()))?;
    chain::open(text).map_err(|e| Error::BadRecord(e.to_string()))
}

/// Streams the records of the JSON-lines file at `path` (see [`TailOptions`]). A missing
/// file is an error, not an empty stream, so a wrong path is noticed.
pub fn tail_file(path: &Path, opts: TailOptions) -> BoxStream<'static, Item> {
    let state = FileState {
        path: path.to_owned(),
        pos: 0,
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
    after: u64,
    started: bool,
    last: Option<usize>,
}

/// Streams the records of the store's `audit_records` table (see [`TailOptions`]).
pub fn tail_store(db: &Db, opts: TailOptions) -> BoxStream<'static, Item> {
    let state = StoreState {
        db: db.clone(),
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
                let items = rows.iter().map(|(_, l)| parse(l.as_bytes())).collect();
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
                    if !opts.follow {
                        return None;
                    }
                    tokio::time::sleep(opts.poll).await;
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
