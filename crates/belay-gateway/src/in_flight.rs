//! The requests in flight on one upstream connection, where the upstream's notices about
//! them go, and in what order.
//!
//! Each notice (a progress notification, a log message) gets its [`Route`] as it arrives
//! ([`crate::arrivals`]): the call it belongs to, or none. With the route come its turns:
//! one place in the order of every call it is filed under (or in the order of the notices
//! that belong to no call), taken in the order the upstream sent them. A notice is passed
//! on only in its turn, so the caller hears them in the upstream's order although rmcp
//! handles each in a task of its own; and a call's answer waits until every notice filed
//! under it has had its turn ([`InFlightGuard::passed_on`]). A turn is given up however the
//! notice ends (passed on, refused, dropped unhandled), so one lost notice holds up nothing.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rmcp::{
    model::{ClientRequest, GetExtensions, ProgressToken, RequestId},
    service::InboundStreamOrigin,
};
use tokio::sync::watch;

use crate::upstream_client::Downstream;

/// A request in flight upstream: who waits for it, how rmcp labelled it once it left, and
/// the order of the upstream's notices about it.
struct Pending {
    token: Option<ProgressToken>,
    request: Option<RequestId>,
    downstream: Downstream,
    order: Arc<Order>,
}

/// Requests in flight on one upstream connection, by a number of the gateway's own.
#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<Calls>);

#[derive(Default)]
struct Calls {
    waiting: Mutex<HashMap<u64, Pending>>,
    /// The order of the notices that belong to no call.
    no_call: Arc<Order>,
}

/// Ties a request to its [`InFlight`] entry until it leaves (see [`crate::arrivals`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Label(u64);

/// Where an upstream's notice goes, decided as it arrived.
#[derive(Clone)]
pub(crate) enum Route {
    /// To the caller of a call in flight, in its turns.
    Call(Box<Downstream>, Turns),
    /// It belongs to no call (none is in flight on the connection); in its turn.
    NoCall(Turns),
    /// It cannot be told whose it is (why), or whose it was is gone.
    Unclear(&'static str),
}

/// A notice's places in the orders it is passed on in; given up when the last clone drops.
#[derive(Clone)]
pub(crate) struct Turns(Arc<Vec<Ticket>>);

impl Turns {
    /// Waits until it is this notice's turn everywhere it was filed.
    pub(crate) async fn come(&self) {
        // Turns were taken in one order for every call, so waiting on them one after the
        // other never waits on a later notice.
        for ticket in self.0.iter() {
            ticket.come().await;
        }
    }
}

/// The order in which notices filed under one call (or under none) are passed on.
#[derive(Default)]
struct Order {
    state: Mutex<Issued>,
    /// The next place whose notice may be passed on.
    turn: watch::Sender<u64>,
}

#[derive(Default)]
struct Issued {
    /// Places handed out so far.
    next: u64,
    /// Places given up before their turn (their notices ended early).
    done_early: BTreeSet<u64>,
}

impl Order {
    fn lock(&self) -> MutexGuard<'_, Issued> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ticket(self: &Arc<Self>) -> Ticket {
        let mut issued = self.lock();
        let place = issued.next;
        issued.next += 1;
        Ticket {
            order: self.clone(),
            place,
        }
    }

    /// Place `place` is done: the turn moves past it and every later one already done.
    fn done(&self, place: u64) {
        let mut issued = self.lock();
        issued.done_early.insert(place);
        let mut turn = *self.turn.borrow();
        while issued.done_early.remove(&turn) {
            turn += 1;
        }
        self.turn.send_replace(turn);
    }
}

/// One place in an [`Order`].
struct Ticket {
    order: Arc<Order>,
    place: u64,
}

impl Ticket {
    async fn come(&self) {
        let mut turn = self.order.turn.subscribe();
        // The sender lives in the order this ticket holds: it cannot be gone.
        let _ = turn.wait_for(|turn| *turn >= self.place).await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.order.done(self.place);
    }
}

impl InFlight {
    /// Records a request about to be sent for `downstream`, so that what the upstream says
    /// at once (a log line, a question) finds the call; it is forgotten when the guard
    /// drops. Label the request ([`InFlightGuard::label`]): as it leaves, it is filed under
    /// the progress token and id rmcp gave it ([`Self::leaving`]).
    pub(crate) fn reserve(&self, downstream: Downstream) -> InFlightGuard {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let key = NEXT.fetch_add(1, Ordering::Relaxed);
        let order = Arc::new(Order::default());
        let waiting = Pending {
            token: None,
            request: None,
            downstream,
            order: order.clone(),
        };
        self.lock().insert(key, waiting);
        InFlightGuard {
            in_flight: self.clone(),
            key,
            order,
        }
    }

    /// Files the request labelled `label` under the progress `token` and `request` id it
    /// leaves with.
    pub(crate) fn leaving(&self, label: Label, token: Option<ProgressToken>, request: RequestId) {
        if let Some(waiting) = self.lock().get_mut(&label.0) {
            waiting.token = token;
            waiting.request = Some(request);
        }
    }

    /// Where progress with `token` goes: the call sent with it.
    pub(crate) fn progress_route(&self, token: &ProgressToken) -> Route {
        let map = self.lock();
        match map.values().find(|w| w.token.as_ref() == Some(token)) {
            Some(waiting) => Route::Call(Box::new(waiting.downstream.clone()), turns([waiting])),
            None => Route::Unclear("no call in flight has its progress token"),
        }
    }

    /// Where a log message goes. Nothing in one names a call, so it goes to the call of the
    /// one downstream session with calls in flight (in the order of every call of that
    /// session), to no call when none is in flight, and nowhere when several sessions have
    /// calls in flight (it could be about any of theirs).
    pub(crate) fn log_route(&self) -> Route {
        let map = self.lock();
        if map.is_empty() {
            return Route::NoCall(Turns(Arc::new(vec![self.0.no_call.ticket()])));
        }
        match sole(&map) {
            Ok(target) => {
                // A session without an id is the only one in flight (see `sole`).
                let calls = map
                    .values()
                    .filter(|w| w.downstream.session == target.session);
                Route::Call(Box::new(target.clone()), turns(calls))
            }
            Err(why) => Route::Unclear(why),
        }
    }

    /// Who a server-to-client request is for: the caller of the request whose response
    /// stream it came on, when the transport says (Streamable HTTP does), or else the one
    /// downstream session with calls in flight.
    pub(crate) fn for_request(
        &self,
        origin: Option<&InboundStreamOrigin>,
    ) -> Result<Downstream, &'static str> {
        let map = self.lock();
        if let Some(InboundStreamOrigin::OutboundRequest(id)) = origin
            && let Some(waiting) = map.values().find(|w| w.request.as_ref() == Some(id))
        {
            return Ok(waiting.downstream.clone());
        }
        sole(&map)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Pending>> {
        self.0.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A place in the order of each of `calls`, taken while the map is locked, so every
/// notice's places are in the one order the upstream sent them in.
fn turns<'a>(calls: impl IntoIterator<Item = &'a Pending>) -> Turns {
    Turns(Arc::new(
        calls.into_iter().map(|w| w.order.ticket()).collect(),
    ))
}

/// The one downstream session with calls in `map`, or why there is none.
fn sole(map: &HashMap<u64, Pending>) -> Result<Downstream, &'static str> {
    let mut found: Option<&Downstream> = None;
    for candidate in map.values().map(|w| &w.downstream) {
        match (found, &candidate.session) {
            (None, _) => found = Some(candidate),
            (Some(first), Some(session)) if first.session.as_ref() == Some(session) => {}
            _ => return Err("several client sessions have calls in flight on this upstream"),
        }
    }
    found
        .cloned()
        .ok_or("no client call is in flight on this upstream")
}

/// Removes its request from [`InFlight`] when the call ends, however it ends.
pub(crate) struct InFlightGuard {
    in_flight: InFlight,
    key: u64,
    order: Arc<Order>,
}

impl InFlightGuard {
    /// Labels `request` as this entry's, for [`InFlight::leaving`].
    pub(crate) fn label(&self, request: &mut ClientRequest) {
        request.extensions_mut().insert(Label(self.key));
    }

    /// Waits until every notice filed under this request so far has had its turn: call it
    /// once the upstream answered, before relaying the answer. It gives up when no notice
    /// has been passed on for [`STALLED_CALLER`] (a caller that reads nothing must not hold
    /// its answer for the whole call timeout), and after `limit` in all.
    pub(crate) async fn passed_on(&self, limit: Duration) {
        let issued = self.order.lock().next;
        let mut turn = self.order.turn.subscribe();
        let all_passed = async {
            loop {
                let reached = *turn.borrow_and_update();
                if reached >= issued {
                    return true;
                }
                match tokio::time::timeout(STALLED_CALLER, turn.changed()).await {
                    Ok(Ok(())) => {} // One more passed on: the caller still reads.
                    Ok(Err(_)) | Err(_) => return false,
                }
            }
        };
        if !tokio::time::timeout(limit, all_passed)
            .await
            .unwrap_or(false)
        {
            tracing::warn!("the upstream's notices of a call were not passed on in time");
        }
    }
}

/// How long an answer waits for its call's notices when none of them moves: a caller that
/// reads its stream takes one well within this, even on a loaded machine.
pub(crate) const STALLED_CALLER: Duration = Duration::from_secs(2);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.in_flight.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn notices_pass_in_arrival_order_and_a_lost_one_holds_up_nothing() {
        let order = Arc::new(Order::default());
        let (first, second, third) = (order.ticket(), order.ticket(), order.ticket());
        assert!(
            first.come().now_or_never().is_some(),
            "the first goes at once"
        );
        assert!(
            third.come().now_or_never().is_none(),
            "the third waits for the first two"
        );
        drop(second); // Lost before its turn: it gives its turn up all the same.
        assert!(
            third.come().now_or_never().is_none(),
            "the first is not done"
        );
        drop(first);
        assert!(third.come().now_or_never().is_some(), "then the third goes");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_waits_for_a_reading_caller_and_not_for_a_stalled_one() {
        let order = Arc::new(Order::default());
        let guard = InFlightGuard {
            in_flight: InFlight::default(),
            key: 0,
            order: order.clone(),
        };
        // A caller that takes one notice a second: slower than nothing, never stalled.
        let tickets: Vec<Ticket> = (0..5).map(|_| order.ticket()).collect();
        let reader = tokio::spawn(async move {
            for ticket in tickets {
                tokio::time::sleep(Duration::from_secs(1)).await;
                drop(ticket);
            }
        });
        let start = tokio::time::Instant::now();
        guard.passed_on(Duration::from_secs(60)).await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(5),
            "all five waited for"
        );
        reader.await.expect("the reader ends");

        // A caller that takes nothing: the answer goes after the stall allowance.
        let _stuck = order.ticket();
        let start = tokio::time::Instant::now();
        guard.passed_on(Duration::from_secs(60)).await;
        assert_eq!(start.elapsed(), STALLED_CALLER);
    }
}
