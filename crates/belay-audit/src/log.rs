//! [`AuditLog`]: the handle requests record through, and the writer task behind it.
//!
//! Requests redact and cut their event to the size limits, then enqueue it on a bounded
//! channel (so a queued event holds kilobytes, not the megabytes a call may carry); one
//! writer task seals and writes in batches (one file write and one SQLite transaction per
//! batch, then the head file) on the blocking pool, so disk latency stays off the request
//! path. A full queue blocks by default: an audit log that silently loses records is worse
//! than a slower gateway. A write that fails stops the writer, and every later `record`
//! returns the error, so the gateway can fail closed.

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
    AuditEvent, AuditKey, AuditSpec, Error, Head, Outcome, Record, Redactor, Sink, WhenFull, chain,
    checkpoint::{Checkpoint, CheckpointFile},
    file::{self, FileSink},
    limits::Limits,
    store,
    writer_lock::WriterLock,
};

/// An event redacted and cut to the limits, with the pointers of what was cut.
struct Prepared {
    event: AuditEvent,
    cut: Vec<String>,
}

// Nearly every message is an event, so boxing it would only add an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Event(Prepared),
    Flush(oneshot::Sender<Result<Head, String>>),
    /// Write what is queued, stop, and let go of the log (its writer lock with it).
    Close(oneshot::Sender<Result<Head, String>>),
}

struct Shared {
    redactor: Redactor,
    limits: Limits,
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
    key: AuditKey,
    checkpoint: CheckpointFile,
    /// Where the records kept in the files start (moves when rotation deletes a file).
    from: Head,
    sync: bool,
    /// Held while the writer runs: no second process appends to this chain.
    _writer: WriterLock,
}

impl AuditLog {
    /// Opens the sinks `spec` enables (the file under `data_dir` unless absolute, the table in
    /// `db`), reads the key (creating it on first use), resumes the chain from the last
    /// record, and starts the writer task. Must run inside a tokio runtime. Callers skip it
    /// when `spec.enabled` is false.
    ///
    /// If the file is ahead of the store (a crash between the two writes), the missing rows
    /// are copied from the file. A partial last line (a crash mid-write) is cut off. If the
    /// store is ahead of the file, the two disagree, the log ends before the record its head
    /// file names, or its last record is not sealed by this key, nothing starts: that is
    /// tampering or a lost file, and the error says what to check. A log of unkeyed records
    /// (written before keys) is continued: the first keyed record seals them.
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
        let redactor = Redactor::new(&spec.redact)?;
        let limits = Limits::new(spec)?;
        let key_path = spec.key_path()?;
        let key = AuditKey::load_or_create(&key_path)?;
        if key_path.starts_with(data_dir) {
            tracing::warn!(
                key = %key_path.display(),
                "the audit key is inside the data folder: whoever can write the log can re-seal it"
            );
        }
        // The head file is named after the log's canonical path: make that path exist first,
        // so the name is the same on the first run as on the next ones.
        let file = spec.file_in(data_dir);
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let writer = WriterLock::acquire(&file)?;
        let checkpoint = CheckpointFile::new(spec, data_dir, &key_path);
        let known = checkpoint.read()?;
        let last = resume(path.as_deref(), db.as_ref(), &key)?;
        check_checkpoint(known.as_ref(), last.as_ref(), &key, &checkpoint)?;
        let head = last.as_ref().map_or_else(Head::genesis, Head::of);
        let from = match (&known, &path) {
            (Some(known), _) => known.from.clone(),
            (None, Some(path)) => file::start(path)?,
            (None, None) => Head::genesis(),
        };
        let file = path
            .as_deref()
            .map(|p| FileSink::open(p, spec))
            .transpose()?;
        let sinks = Sinks {
            file,
            db,
            head: head.clone(),
            key,
            checkpoint,
            from,
            sync: spec.fsync == crate::Fsync::Batch,
            _writer: writer,
        };
        let (tx, rx) = mpsc::channel(spec.channel_capacity);
        let (head_tx, head_rx) = watch::channel(head);
        let (live, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            redactor,
            limits,
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
        let event = self.shared.prepare(event);
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
        self.ask_writer(Msg::Flush).await
    }

    /// Writes every event queued before this call, stops the writer and lets go of the log,
    /// so another writer (a restarted gateway, another process) may open it. Every clone of
    /// this log fails from then on. Returns the head.
    pub async fn close(self) -> Result<Head, Error> {
        self.ask_writer(Msg::Close).await
    }

    /// Sends the writer a message that answers with the head once what came before is written.
    async fn ask_writer(
        &self,
        msg: fn(oneshot::Sender<Result<Head, String>>) -> Msg,
    ) -> Result<Head, Error> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(msg(tx)).await.map_err(|_| self.failure())?;
        match rx.await {
            Ok(Ok(head)) => Ok(head),
            Ok(Err(why)) => Err(Error::WriterFailed(why)),
            Err(_) => Err(self.failure()),
        }
    }

    /// The last record written (sequence number and seal). The writer also keeps it in the
    /// log's head file beside the key, which is what shows a tail cut off.
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
        let mut closing = None;
        for msg in msgs.drain(..) {
            match msg {
                Msg::Event(e) => events.push(e),
                Msg::Flush(w) => waiters.push(w),
                Msg::Close(w) => closing = Some(w),
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
                waiters.extend(closing);
                fail(&shared, waiters, why);
                return;
            }
        };
        match outcome {
            Ok(head) => {
                for w in waiters {
                    let _ = w.send(Ok(head.clone()));
                }
                if let Some(closed) = closing {
                    drop(sinks);
                    *shared.failed.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some("the audit log was closed".into());
                    let _ = closed.send(Ok(head));
                    return;
                }
            }
            Err(why) => {
                waiters.extend(closing);
                return fail(&shared, waiters, why);
            }
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

impl Shared {
    fn prepare(&self, mut event: AuditEvent) -> Prepared {
        if let Some(args) = &event.arguments {
            event.arguments = Some(self.redactor.redact_value(args));
        }
        if let Outcome::Error { message, .. } = &mut event.outcome {
            *message = self.redactor.redact_str(message);
        }
        let cut = self.limits.apply(&mut event);
        Prepared { event, cut }
    }
}

impl Sinks {
    /// Seals `events`, writes them to the file then the store, then the head file, and moves
    /// the head only when all succeeded. Old files rotation left beyond `keep_files` go
    /// last, once the head file says where the kept records start.
    fn write(&mut self, events: Vec<Prepared>, dropped: u64) -> Result<Vec<Record>, Error> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut head = self.head.clone();
        let mut sealed = Vec::with_capacity(events.len());
        for (i, Prepared { event, cut }) in events.into_iter().enumerate() {
            let dropped = if i == 0 { dropped } else { 0 };
            let s = chain::seal(&head, event, dropped, cut, &self.key)?;
            head = Head::of(&s.record);
            sealed.push(s);
        }
        let mut prune = None;
        if let Some(file) = &mut self.file {
            let lines: Vec<&str> = sealed.iter().map(|s| s.line.as_str()).collect();
            if file.append(&lines, self.head.seq + 1)? {
                prune = file.prune()?;
            }
        }
        if let Some(db) = &self.db {
            db.call_blocking(|c| {
                let tx = belay_store::write_transaction(c)?;
                for s in &sealed {
                    store::insert(&tx, &s.record, &s.line)?;
                }
                tx.commit()
            })?;
        }
        if let Some(prune) = &prune {
            self.from = prune.from.clone();
        }
        self.checkpoint
            .write(&self.key, &head, &self.from, self.sync)?;
        for old in prune.map(|p| p.delete).unwrap_or_default() {
            if let Err(e) = std::fs::remove_file(&old) {
                tracing::warn!(file = %old.display(), error = %e, "cannot delete a rotated audit file");
            }
        }
        self.head = head;
        Ok(sealed.into_iter().map(|s| s.record).collect())
    }
}

/// Refuses to continue a log that no longer reaches the record its head file names, holds
/// another record there, or ends in an unkeyed record after keyed ones were written:
/// writing on would bury the evidence.
fn check_checkpoint(
    known: Option<&Checkpoint>,
    last: Option<&Record>,
    key: &AuditKey,
    file: &CheckpointFile,
) -> Result<(), Error> {
    let Some(known) = known else {
        if last.is_some_and(|r| r.key.is_none()) {
            tracing::info!(
                "continuing an unkeyed audit log: the next record seals it under the key"
            );
        }
        return Ok(());
    };
    // The whole log is gone: a data folder reset (or removed by someone who could). Refusing
    // to start would lock a person out of their own reset; cutting only the end is what an
    // intruder hides with, and that stays refused below. Either way the old head is kept as
    // evidence, outside the data folder, and `verify` names it.
    if last.is_none() && known.key == key.id() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let kept = file.retire(now)?;
        tracing::warn!(
            log = %known.log.display(),
            records = known.head.seq,
            evidence = %kept.display(),
            "the audit log is gone (its folder was reset, or it was removed): a new log begins; \
             `belay audit verify` reports the missing records"
        );
        return Ok(());
    }
    let fresh_start = format!(
        "keep the files as evidence and run `belay audit verify`; to start a new log, move \
         the log aside and remove {}",
        file.path().display()
    );
    if known.key != key.id() {
        return Err(Error::Resume(format!(
            "the head file {} names key {}, but {} holds key {}: point [audit] key_file at \
             the log's key, or {fresh_start}",
            file.path().display(),
            known.key,
            key.path().display(),
            key.id()
        )));
    }
    let head = last.map_or_else(Head::genesis, Head::of);
    let why = if head.seq < known.head.seq {
        format!(
            "the log ends at record {} but record {} was written (head file {}): records \
             {}..={} were cut",
            head.seq,
            known.head.seq,
            file.path().display(),
            head.seq + 1,
            known.head.seq
        )
    } else if head.seq == known.head.seq && head.hash != known.head.hash {
        format!(
            "record {} is not the one written (head file {})",
            head.seq,
            file.path().display()
        )
    } else if last.is_some_and(|r| r.key.is_none()) {
        format!(
            "the last record, {}, is unkeyed although keyed records were written (head file \
             {}): it was forged",
            head.seq,
            file.path().display()
        )
    } else {
        return Ok(());
    };
    Err(Error::Resume(format!("{why}; {fresh_start}")))
}

/// Finds the last record, repairing what a crash can leave and refusing what it cannot.
fn resume(path: Option<&Path>, db: Option<&Db>, key: &AuditKey) -> Result<Option<Record>, Error> {
    let file_last = path.map(|p| file_last(p, key)).transpose()?;
    let store_last = match db {
        Some(db) => {
            store::migrate(db)?;
            Some(store::last(db, key)?)
        }
        None => None,
    };
    match (file_last, store_last, path, db) {
        (Some(f), Some(s), Some(path), Some(db)) => reconcile(path, db, f, s, key),
        (Some(last), None, ..) | (None, Some(last), ..) => Ok(last),
        _ => Ok(None),
    }
}

fn file_last(path: &Path, key: &AuditKey) -> Result<Option<Record>, Error> {
    file::last_line(path)?
        .map(|line| {
            chain::open(&line, Some(key)).map_err(|e| {
                Error::Resume(format!(
                    "the last record of {} is broken ({e}); run `belay audit verify` and move the file aside",
                    path.display()
                ))
            })
        })
        .transpose()
}

fn reconcile(
    path: &Path,
    db: &Db,
    file: Option<Record>,
    stored: Option<Record>,
    key: &AuditKey,
) -> Result<Option<Record>, Error> {
    let (file_head, store_head) = (
        file.as_ref().map_or_else(Head::genesis, Head::of),
        stored.as_ref().map_or_else(Head::genesis, Head::of),
    );
    if file_head == store_head {
        return Ok(file);
    }
    if file_head.seq <= store_head.seq {
        return Err(Error::Resume(format!(
            "{} ends at record {} but the store holds up to record {} ({}): the file was cut, \
             replaced or edited. Run `belay audit verify`; keep the file as evidence and restore it, \
             or remove \"file\" from the audit sinks",
            path.display(),
            file_head.seq,
            store_head.seq,
            if file_head.seq == store_head.seq {
                "with a different seal"
            } else {
                "a shorter chain"
            },
        )));
    }
    // The file is ahead: the previous run stopped between the two writes. Copy the rest.
    let missing = file::records_after(path, store_head.seq, key)?;
    let mut expect = store_head;
    for (r, _) in &missing {
        if r.seq != expect.seq + 1 || r.prev != expect.hash {
            return Err(Error::Resume(format!(
                "{} does not continue the store's chain at record {}; run `belay audit verify`",
                path.display(),
                expect.seq + 1
            )));
        }
        expect = Head::of(r);
    }
    tracing::warn!(
        records = missing.len(),
        "copying audit records the store missed from the file"
    );
    db.call_blocking(|c| {
        let tx = belay_store::write_transaction(c)?;
        for (r, line) in &missing {
            store::insert(&tx, r, line)?;
        }
        tx.commit()
    })?;
    Ok(file)
}

/// Resolves the audit file path the way [`AuditLog::open`] does, for CLI commands.
pub fn audit_file(spec: &AuditSpec, data_dir: &Path) -> Option<PathBuf> {
    spec.has(Sink::File).then(|| spec.file_in(data_dir))
}
