//! [`AuditLog`]: the handle requests record through, and the writer task behind it.
//!
//! Requests only enqueue on a bounded channel; one writer task redacts, seals and writes in
//! batches (one file write and one SQLite transaction per batch) on the blocking pool, so
//! disk latency stays off the request path. A full queue blocks by default: an audit log
//! that silently loses records is worse than a slower gateway. A write that fails stops the
//! writer, and every later `record` returns the error, so the gateway can fail closed.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use belay_store::Db;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::{
    AuditEvent, AuditSpec, Error, Head, Outcome, Record, Redactor, Sink, WhenFull, chain,
    file::{self, FileSink},
    store,
};

// Nearly every message is an event, so boxing it would only add an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Event(AuditEvent),
    Flush(oneshot::Sender<Result<Head, String>>),
}

struct Shared {
    when_full: WhenFull,
    capacity: usize,
    /// Dropped since the writer last took a batch; the next record carries it.
    pending_dropped: AtomicU64,
    dropped_total: AtomicU64,
    failed: Mutex<Option<String>>,
    head: watch::Receiver<Head>,
    live: broadcast::Sender<Arc<Record>>,
}

/// The audit log: clone it freely; every clone feeds the same writer.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("head", &*self.shared.head.borrow())
            .finish_non_exhaustive()
    }
}

/// Where an [`AuditLog`] writes, resolved from an [`AuditSpec`].
struct Sinks {
    file: Option<FileSink>,
    db: Option<Db>,
    head: Head,
    redactor: Arc<Redactor>,
}

impl AuditLog {
    /// Opens the sinks `spec` enables (the file under `data_dir` unless absolute, the table in
    /// `db`), resumes the chain from the last record, and starts the writer task. Must run
    /// inside a tokio runtime. Callers skip it when `spec.enabled` is false.
    ///
    /// If the file is ahead of the store (a crash between the two writes), the missing rows
    /// are copied from the file. A partial last line (a crash mid-write) is cut off. If the
    /// store is ahead of the file, or the two disagree, nothing starts: that is tampering or
    /// a lost file, and the error says what to check.
    pub fn open(spec: &AuditSpec, data_dir: &Path, db: Option<Db>) -> Result<Self, Error> {
        if spec.sinks.is_empty() {
            return Err(Error::Config(
                "audit sinks is empty: list \"file\", \"store\" or both".into(),
            ));
        }
        if spec.channel_capacity == 0 || spec.batch_size == 0 {
            return Err(Error::Config(
                "audit channel_capacity and batch_size must be at least 1".into(),
            ));
        }
        let db = if spec.has(Sink::Store) {
            Some(db.ok_or_else(|| {
                Error::Config("audit sink \"store\" is enabled but no database was given".into())
            })?)
        } else {
            None
        };
        let path = spec.has(Sink::File).then(|| spec.file_in(data_dir));
        let redactor = Arc::new(Redactor::new(&spec.redact)?);
        let head = resume(path.as_deref(), db.as_ref())?;
        let file = path
            .as_deref()
            .map(|p| FileSink::open(p, spec.fsync))
            .transpose()?;
        let sinks = Sinks {
            file,
            db,
            head: head.clone(),
            redactor,
        };
        let (tx, rx) = mpsc::channel(spec.channel_capacity);
        let (head_tx, head_rx) = watch::channel(head);
        let (live, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            when_full: spec.when_full,
            capacity: spec.channel_capacity,
            pending_dropped: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
            failed: Mutex::new(None),
            head: head_rx,
            live,
        });
        tokio::spawn(write_loop(
            rx,
            sinks,
            spec.batch_size,
            Arc::clone(&shared),
            head_tx,
        ));
        Ok(Self { tx, shared })
    }

    /// Queues `event`. With `when_full = "block"` this waits for room; with `"drop"` a full
    /// queue returns [`Error::Dropped`] at once (the gateway goes on; the loss is counted
    /// and written in the next record). [`Error::WriterFailed`] means nothing more will be
    /// written: fail the request closed.
    pub async fn record(&self, event: AuditEvent) -> Result<(), Error> {
        let sent = match self.shared.when_full {
            WhenFull::Block => self.tx.send(Msg::Event(event)).await.map_err(|_| ()),
            WhenFull::Drop => match self.tx.try_send(Msg::Event(event)) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.shared.pending_dropped.fetch_add(1, Ordering::SeqCst);
                    self.shared.dropped_total.fetch_add(1, Ordering::SeqCst);
                    return Err(Error::Dropped);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
            },
        };
        sent.map_err(|()| self.failure())
    }

    /// Waits until every event queued before this call is written, and returns the head.
    pub async fn flush(&self) -> Result<Head, Error> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush(tx))
            .await
            .map_err(|_| self.failure())?;
        match rx.await {
            Ok(Ok(head)) => Ok(head),
            Ok(Err(why)) => Err(Error::WriterFailed(why)),
            Err(_) => Err(self.failure()),
        }
    }

    /// The last record written (sequence number and hash): worth keeping elsewhere, since it
    /// is what proves the tail of the log was not cut off.
    pub fn head(&self) -> Head {
        self.shared.head.borrow().clone()
    }

    /// Events dropped since start because the queue was full (`when_full = "drop"`).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::SeqCst)
    }

    /// Events waiting for the writer (a gauge for `/metrics`).
    pub fn queued(&self) -> usize {
        self.shared.capacity - self.tx.capacity()
    }

    /// Records as they are written, for live views in this process. A receiver that falls
    /// more than 1024 records behind gets `Lagged` and should re-read from the store.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.shared.live.subscribe()
    }

    fn failure(&self) -> Error {
        let why = self
            .shared
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Error::WriterFailed(why.unwrap_or_else(|| "the writer task has ended".into()))
    }
}

async fn write_loop(
    mut rx: mpsc::Receiver<Msg>,
    mut sinks: Sinks,
    batch_size: usize,
    shared: Arc<Shared>,
    head_tx: watch::Sender<Head>,
) {
    let mut msgs = Vec::with_capacity(batch_size);
    while rx.recv_many(&mut msgs, batch_size).await > 0 {
        let mut events = Vec::new();
        let mut waiters = Vec::new();
        for msg in msgs.drain(..) {
            match msg {
                Msg::Event(e) => events.push(e),
                Msg::Flush(w) => waiters.push(w),
            }
        }
        let dropped = shared.pending_dropped.swap(0, Ordering::SeqCst);
        let result = tokio::task::spawn_blocking(move || {
            let written = sinks.write(events, dropped);
            (sinks, written)
        })
        .await;
        let outcome = match result {
            Ok((back, written)) => {
                sinks = back;
                written.map_err(|e| e.to_string()).map(|records| {
                    let _ = head_tx.send(sinks.head.clone());
                    for r in records {
                        let _ = shared.live.send(Arc::new(r));
                    }
                    sinks.head.clone()
                })
            }
            Err(e) => {
                let why = format!("audit write task failed: {e}");
                fail(&shared, waiters, why);
                return;
            }
        };
        match outcome {
            Ok(head) => {
                for w in waiters {
                    let _ = w.send(Ok(head.clone()));
                }
            }
            Err(why) => return fail(&shared, waiters, why),
        }
    }
}

fn fail(shared: &Shared, waiters: Vec<oneshot::Sender<Result<Head, String>>>, why: String) {
    tracing::error!(error = %why, "audit log write failed; no further records will be written");
    *shared.failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
    for w in waiters {
        let _ = w.send(Err(why.clone()));
    }
}

impl Sinks {
    /// Redacts and seals `events`, writes them to the file then the store, and moves the head
    /// only when both succeeded.
    fn write(&mut self, events: Vec<AuditEvent>, dropped: u64) -> Result<Vec<Record>, Error> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut head = self.head.clone();
        let mut sealed = Vec::with_capacity(events.len());
        for (i, mut event) in events.into_iter().enumerate() {
            self.redact(&mut event);
            let s = chain::seal(&head, event, if i == 0 { dropped } else { 0 })?;
            head = Head {
                seq: s.record.seq,
                hash: s.record.hash.clone(),
            };
            sealed.push(s);
        }
        if let Some(file) = &mut self.file {
            let lines: Vec<&str> = sealed.iter().map(|s| s.line.as_str()).collect();
            file.append(&lines)?;
        }
        if let Some(db) = &self.db {
            db.call_blocking(|c| {
                let tx = c.transaction()?;
                for s in &sealed {
                    store::insert(&tx, &s.record, &s.line)?;
                }
                tx.commit()
            })?;
        }
        self.head = head;
        Ok(sealed.into_iter().map(|s| s.record).collect())
    }

    fn redact(&self, event: &mut AuditEvent) {
        if let Some(args) = &event.arguments {
            event.arguments = Some(self.redactor.redact_value(args));
        }
        if let Outcome::Error { message, .. } = &mut event.outcome {
            *message = self.redactor.redact_str(message);
        }
    }
}

/// Finds where the chain ends, repairing what a crash can leave and refusing what it cannot.
fn resume(path: Option<&Path>, db: Option<&Db>) -> Result<Head, Error> {
    let file_head = path.map(file_head).transpose()?;
    let store_head = match db {
        Some(db) => {
            store::migrate(db)?;
            Some(store::head(db)?.unwrap_or_else(Head::genesis))
        }
        None => None,
    };
    match (file_head, store_head, path, db) {
        (Some(f), Some(s), Some(path), Some(db)) => reconcile(path, db, f, s),
        (Some(h), None, ..) | (None, Some(h), ..) => Ok(h),
        _ => Ok(Head::genesis()),
    }
}

fn file_head(path: &Path) -> Result<Head, Error> {
    let tail = file::read_tail(path)?;
    if tail.complete_len < tail.len {
        tracing::warn!(
            file = %path.display(),
            bytes = tail.len - tail.complete_len,
            "cutting a partial last audit record (the previous run stopped mid-write)"
        );
        file::truncate(path, tail.complete_len)?;
    }
    match tail.last {
        None => Ok(Head::genesis()),
        Some(line) => chain::open(&line)
            .map(|r| Head {
                seq: r.seq,
                hash: r.hash,
            })
            .map_err(|e| {
                Error::Resume(format!(
                    "the last record of {} is broken ({e}); run `belay audit verify` and move the file aside",
                    path.display()
                ))
            }),
    }
}

fn reconcile(path: &Path, db: &Db, file: Head, store_head: Head) -> Result<Head, Error> {
    if file == store_head {
        return Ok(file);
    }
    if file.seq <= store_head.seq {
        return Err(Error::Resume(format!(
            "{} ends at record {} but the store holds up to record {} ({}): the file was cut, \
             replaced or edited. Run `belay audit verify`; keep the file as evidence and restore it, \
             or remove \"file\" from the audit sinks",
            path.display(),
            file.seq,
            store_head.seq,
            if file.seq == store_head.seq {
                "with a different hash"
            } else {
                "a shorter chain"
            },
        )));
    }
    // The file is ahead: the previous run stopped between the two writes. Copy the rest.
    let missing = file::records_after(path, store_head.seq)?;
    let mut expect = store_head;
    for (r, _) in &missing {
        if r.seq != expect.seq + 1 || r.prev != expect.hash {
            return Err(Error::Resume(format!(
                "{} does not continue the store's chain at record {}; run `belay audit verify`",
                path.display(),
                expect.seq + 1
            )));
        }
        expect = Head {
            seq: r.seq,
            hash: r.hash.clone(),
        };
    }
    tracing::warn!(
        records = missing.len(),
        "copying audit records the store missed from the file"
    );
    db.call_blocking(|c| {
        let tx = c.transaction()?;
        for (r, line) in &missing {
            store::insert(&tx, r, line)?;
        }
        tx.commit()
    })?;
    Ok(expect)
}

/// Resolves the audit file path the way [`AuditLog::open`] does, for CLI commands.
pub fn audit_file(spec: &AuditSpec, data_dir: &Path) -> Option<PathBuf> {
    spec.has(Sink::File).then(|| spec.file_in(data_dir))
}
