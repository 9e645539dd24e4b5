//! How an upstream behaves on one connection, as the gateway sees it: why the connection
//! ended (the upstream broke the protocol, its process exited, it stopped answering), what
//! a failed request's transport knew that rmcp does not pass on, and the budgets for what
//! the upstream sends unasked (notifications) or asks (questions for the caller).
//!
//! Notifications are the one thing an upstream can send without limit and that the
//! gateway holds while it delivers them (rmcp gives each its own task, which waits for the
//! client's stream). So at most [`MAX_DELIVERIES`] are being delivered at once per
//! connection; more are dropped (a warning every [`REPORT_EVERY`] says how many). A
//! `list_changed` is coalesced instead: while one of a kind waits for the supervisor to
//! list the upstream again, more of that kind add nothing.
//!
//! Questions (elicitation, sampling, roots, task requests) each hold a handler and a
//! request to the caller until the caller answers; at most [`MAX_QUESTIONS`] are open at
//! once per connection, and more are refused to the upstream with an error it can act on.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use rmcp::{
    ErrorData,
    model::{GetExtensions, RequestId, ServerNotification, ServerRequest},
};
use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

use crate::upstream_client::Change;

/// Notifications of one connection being delivered at once; more are dropped. Enough for
/// every call in flight to have its progress and logs delivered to a client that reads
/// them; a client that reads nothing holds at most this many.
pub(crate) const MAX_DELIVERIES: usize = 64;

/// Questions of one connection waiting for their caller at once; more are refused. No
/// server asks a person more than a few things at a time.
pub(crate) const MAX_QUESTIONS: usize = 32;

/// How often at most the count of dropped notifications is logged, per connection.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Notes kept for failed requests not yet reported (best effort: the oldest go first).
const MAX_NOTES: usize = 256;

/// One connection's record of its upstream's conduct, shared by its transport (which
/// observes) and the calls and supervisor (which report).
#[derive(Debug)]
pub(crate) struct Conduct {
    upstream: Arc<str>,
    ended: OnceLock<String>,
    ending: Notify,
    notes: Mutex<HashMap<RequestId, String>>,
    deliveries: Arc<Semaphore>,
    questions: Arc<Semaphore>,
    /// A list change of each kind (tools, prompts, resources) waits for the supervisor.
    changes: [AtomicBool; 3],
    /// What was dropped or refused, over every connection of the upstream.
    counts: Arc<ConductCounts>,
    /// When drops were last reported (never: `None`), and how many since.
    unreported: Mutex<(Option<Instant>, u64)>,
}

/// What an upstream sent beyond its budgets, over all its connections.
#[derive(Debug, Default)]
pub(crate) struct ConductCounts {
    /// Notifications dropped because too many were still being delivered.
    pub(crate) notifications_dropped: AtomicU64,
    /// Questions refused because too many were waiting for their callers.
    pub(crate) questions_refused: AtomicU64,
}

/// What the upstream is answered when [`Conduct::admit_question`] refuses its request.
pub(crate) fn question_refused(upstream: &str) -> ErrorData {
    ErrorData::internal_error(
        format!(
            "the gateway refused this request: {MAX_QUESTIONS} requests of upstream \
             `{upstream}` were already waiting for their callers"
        ),
        None,
    )
}

/// Holds a notification's delivery slot until its handler is done with it (it travels in
/// the notification's extensions, which rmcp hands the handler and drops after).
#[derive(Debug, Clone)]
struct Delivery {
    _slot: Arc<OwnedSemaphorePermit>,
}

impl Conduct {
    /// A new connection of `upstream`, counting what it drops and refuses into `counts`.
    pub(crate) fn new(upstream: &str, counts: Arc<ConductCounts>) -> Arc<Self> {
        Arc::new(Self {
            upstream: upstream.into(),
            ended: OnceLock::new(),
            ending: Notify::new(),
            notes: Mutex::default(),
            deliveries: Arc::new(Semaphore::new(MAX_DELIVERIES)),
            questions: Arc::new(Semaphore::new(MAX_QUESTIONS)),
            changes: Default::default(),
            counts,
            unreported: Mutex::new((None, 0)),
        })
    }

    /// Ends the connection because of `why` (what the upstream did, in words a caller can
    /// act on). The first reason stands.
    pub(crate) fn end(&self, why: String) {
        if self.ended.set(why).is_ok() {
            let why = self.ended.get().map_or("", String::as_str);
            tracing::warn!(upstream = %self.upstream, "{why}; ending its session");
            self.ending.notify_waiters();
        }
    }

    /// The upstream's name.
    pub(crate) fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Why the connection was ended, if it was.
    pub(crate) fn ended(&self) -> Option<&str> {
        self.ended.get().map(String::as_str)
    }

    /// Returns once the connection is to end.
    pub(crate) async fn ending(&self) {
        loop {
            let notified = self.ending.notified();
            if self.ended.get().is_some() {
                return;
            }
            notified.await;
        }
    }

    /// Remembers why request `id` failed, for its caller (the first note stands).
    pub(crate) fn note(&self, id: RequestId, why: String) {
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        if notes.len() >= MAX_NOTES {
            notes.clear();
        }
        notes.entry(id).or_insert(why);
    }

    /// Why request `id` failed, if its transport said.
    pub(crate) fn take_note(&self, id: &RequestId) -> Option<String> {
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        notes.remove(id)
    }

    /// Whether `notification` goes on to its handler: a cancellation always, a list change
    /// unless one of its kind already waits, anything else if a delivery slot is free (it
    /// then holds the slot until handled). What is refused is dropped and counted.
    pub(crate) fn admit(&self, notification: &mut ServerNotification) -> bool {
        let change = match notification {
            ServerNotification::ToolListChangedNotification(_) => Some(Change::Tools),
            ServerNotification::PromptListChangedNotification(_) => Some(Change::Prompts),
            ServerNotification::ResourceListChangedNotification(_) => Some(Change::Resources),
            // rmcp acts on a cancellation itself (the request it cancels stops) and its
            // handler does nothing: it holds nothing, and must not be lost.
            ServerNotification::CancelledNotification(_) => return true,
            _ => None,
        };
        if let Some(change) = change {
            return !self.changes[slot(change)].swap(true, Ordering::SeqCst);
        }
        match self.deliveries.clone().try_acquire_owned() {
            Ok(permit) => {
                notification.extensions_mut().insert(Delivery {
                    _slot: Arc::new(permit),
                });
                true
            }
            Err(_) => {
                self.dropped_one();
                false
            }
        }
    }

    /// Whether the upstream's `request` goes on to its handler: a ping always (rmcp
    /// answers it at once), a question if a slot is free (it then holds the slot until
    /// handled). A refused one is counted; the transport answers it with
    /// [`question_refused`].
    pub(crate) fn admit_question(&self, request: &mut ServerRequest) -> bool {
        if matches!(request, ServerRequest::PingRequest(_)) {
            return true;
        }
        match self.questions.clone().try_acquire_owned() {
            Ok(permit) => {
                request.extensions_mut().insert(Delivery {
                    _slot: Arc::new(permit),
                });
                true
            }
            Err(_) => {
                self.counts
                    .questions_refused
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    upstream = %self.upstream,
                    "refused a question of the upstream: {MAX_QUESTIONS} were still waiting for their callers"
                );
                false
            }
        }
    }

    /// The supervisor took `change` (and lists the upstream again): the next one of its
    /// kind is news.
    pub(crate) fn taken(&self, change: Change) {
        self.changes[slot(change)].store(false, Ordering::SeqCst);
    }

    fn dropped_one(&self) {
        self.counts
            .notifications_dropped
            .fetch_add(1, Ordering::Relaxed);
        let mut unreported = self.unreported.lock().unwrap_or_else(|e| e.into_inner());
        unreported.1 += 1;
        if unreported.0.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            self.report(unreported.1);
            *unreported = (Some(Instant::now()), 0);
        }
    }

    fn report(&self, dropped: u64) {
        tracing::warn!(
            upstream = %self.upstream,
            dropped,
            "dropped notifications from the upstream: {MAX_DELIVERIES} were still being \
             delivered (it floods, or a client reads slowly)"
        );
    }
}

impl Drop for Conduct {
    /// The drops since the last report, so that every one is counted in the log.
    fn drop(&mut self) {
        let unreported = self
            .unreported
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .1;
        if unreported > 0 {
            self.report(unreported);
        }
    }
}

fn slot(change: Change) -> usize {
    match change {
        Change::Tools => 0,
        Change::Prompts => 1,
        Change::Resources => 2,
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{
        LoggingLevel, LoggingMessageNotification, LoggingMessageNotificationParam,
        ToolListChangedNotification,
    };

    use super::*;

    fn log() -> ServerNotification {
        let param = LoggingMessageNotificationParam::new(LoggingLevel::Info, "x".into());
        ServerNotification::LoggingMessageNotification(LoggingMessageNotification::new(param))
    }

    #[tokio::test]
    async fn deliveries_are_bounded_and_a_slot_comes_back_when_its_notification_is_handled() {
        let counts = Arc::new(ConductCounts::default());
        let conduct = Conduct::new("flood", counts.clone());
        let mut held: Vec<ServerNotification> = (0..MAX_DELIVERIES).map(|_| log()).collect();
        assert!(held.iter_mut().all(|n| conduct.admit(n)));
        assert!(!conduct.admit(&mut log()), "no slot left");
        assert_eq!(counts.notifications_dropped.load(Ordering::Relaxed), 1);
        held.pop(); // handled: its extensions are dropped
        assert!(conduct.admit(&mut log()));
    }

    #[tokio::test]
    async fn open_questions_are_bounded_and_pings_always_pass() {
        let counts = Arc::new(ConductCounts::default());
        let conduct = Conduct::new("questions", counts.clone());
        let roots = || ServerRequest::ListRootsRequest(Default::default());
        let mut open: Vec<ServerRequest> = (0..MAX_QUESTIONS).map(|_| roots()).collect();
        assert!(open.iter_mut().all(|q| conduct.admit_question(q)));
        assert!(!conduct.admit_question(&mut roots()), "no slot left");
        let mut ping = ServerRequest::PingRequest(Default::default());
        assert!(conduct.admit_question(&mut ping), "a ping holds nothing");
        assert_eq!(counts.questions_refused.load(Ordering::Relaxed), 1);
        open.pop(); // answered: its extensions are dropped
        assert!(conduct.admit_question(&mut roots()));
    }

    #[tokio::test]
    async fn list_changes_are_coalesced_until_taken() {
        let conduct = Conduct::new("lists", Arc::default());
        let changed = || {
            ServerNotification::ToolListChangedNotification(ToolListChangedNotification::default())
        };
        assert!(conduct.admit(&mut changed()));
        assert!(!conduct.admit(&mut changed()), "one already waits");
        conduct.taken(Change::Tools);
        assert!(conduct.admit(&mut changed()));
    }

    #[tokio::test]
    async fn the_first_reason_to_end_stands_and_wakes_the_waiter() {
        let conduct = Conduct::new("ends", Arc::default());
        let waiter = tokio::spawn({
            let conduct = conduct.clone();
            async move { conduct.ending().await }
        });
        conduct.end("first".into());
        conduct.end("second".into());
        assert_eq!(conduct.ended(), Some("first"));
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
