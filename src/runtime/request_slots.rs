//! The controller's API requests in flight: a bounded number of slots shared by two
//! lanes. Grants (library entries, revocations, and the checks and finalizers they
//! wait on) take a free slot at once; bookkeeping (notifications, reports,
//! statuses, access being added) takes one only while no grant is waiting. Under a
//! burst every grant is written before the notes about it, and in both phases the
//! API server gets as many requests as the limit allows: an API server given fewer
//! requests than it can take spends more CPU on each. (Holding bookkeeping back
//! until no grant is in flight either was measured: at 25,000 grants it cost the
//! API server 17% more CPU and every phase took longer.)
//!
//! Requests choose their lane by the task-local set with `bookkeeping(...)`, so the
//! limit can sit in the client, under every call site. Bookkeeping takes its slot
//! before its requests are built: a burst's notes wait as small futures, not as
//! encoded request bodies.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Grants,
    Bookkeeping,
    /// Bookkeeping that already holds its slot: its requests go straight through.
    Held,
}

tokio::task_local! {
    static LANE: Lane;
}

/// Runs `work` in the bookkeeping lane: it starts once it holds a slot, and its
/// requests (one at a time) use that slot. Nested calls run in the outer slot.
pub async fn bookkeeping<F: Future>(slots: &Arc<Slots>, work: F) -> F::Output {
    in_slot(slots, Lane::Bookkeeping, move || work).await
}

/// Runs the future `make` builds, in `lane`, once a slot is held: until then it is a
/// closure of a few references, not a request future of several kilobytes (a burst
/// keeps thousands of writes waiting). Its requests (one at a time) use that slot.
pub async fn in_slot<F, Fut>(slots: &Arc<Slots>, lane: Lane, make: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    if current() == Lane::Held {
        return Box::pin(make()).await;
    }
    let _slot = slots.acquire(lane).await;
    Box::pin(LANE.scope(Lane::Held, make())).await
}

/// The lane of the task polling now (grants unless said otherwise).
fn current() -> Lane {
    LANE.try_with(|lane| *lane).unwrap_or(Lane::Grants)
}

/// The slots and who waits for one, grants first.
pub struct Slots {
    state: Mutex<State>,
}

struct State {
    free: usize,
    grants: VecDeque<oneshot::Sender<Slot>>,
    bookkeeping: VecDeque<oneshot::Sender<Slot>>,
}

/// One request in flight; dropping it hands the slot to the next waiter.
pub struct Slot(Option<Arc<Slots>>);

impl Slots {
    pub fn new(slots: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                free: slots,
                grants: VecDeque::new(),
                bookkeeping: VecDeque::new(),
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn acquire(self: &Arc<Self>, lane: Lane) -> Slot {
        loop {
            let waiting = {
                let mut state = self.state();
                if state.free > 0 && (lane != Lane::Bookkeeping || state.grants.is_empty()) {
                    state.free -= 1;
                    return Slot(Some(self.clone()));
                }
                let (tx, rx) = oneshot::channel();
                match lane {
                    Lane::Bookkeeping => state.bookkeeping.push_back(tx),
                    Lane::Grants | Lane::Held => state.grants.push_back(tx),
                }
                rx
            };
            // A sender is only ever dropped after sending, so this does not loop.
            if let Ok(slot) = waiting.await {
                return slot;
            }
        }
    }

    fn release(self: &Arc<Self>) {
        let mut state = self.state();
        while let Some(next) = state
            .grants
            .pop_front()
            .or_else(|| state.bookkeeping.pop_front())
        {
            match next.send(Slot(Some(self.clone()))) {
                Ok(()) => return,
                // That waiter gave up: the slot was never taken, try the next one.
                Err(mut unused) => unused.0 = None,
            }
        }
        state.free += 1;
    }

    #[cfg(test)]
    fn free(&self) -> usize {
        self.state().free
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(slots) = self.0.take() {
            slots.release();
        }
    }
}

/// The client layer: each request waits for a slot in its caller's lane, unless
/// its caller holds one already.
#[derive(Clone)]
pub struct LimitLayer(Arc<Slots>);

impl LimitLayer {
    pub fn new(slots: Arc<Slots>) -> Self {
        Self(slots)
    }
}

impl<S> tower::Layer<S> for LimitLayer {
    type Service = Limit<S>;
    fn layer(&self, inner: S) -> Limit<S> {
        Limit {
            inner,
            slots: self.0.clone(),
        }
    }
}

pub struct Limit<S> {
    inner: S,
    slots: Arc<Slots>,
}

impl<S, R> tower::Service<R> for Limit<S>
where
    S: tower::Service<R> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Waiting happens per request, in its lane, once the caller polls it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The kube client calls this from its own task and hands the future back to
        // the caller: the lane is read when the caller first polls it, and the
        // request is handed on only once it holds a slot.
        let inner = self.inner.clone();
        let slots = self.slots.clone();
        Box::pin(async move {
            let _slot = match current() {
                Lane::Held => None,
                lane => Some(slots.acquire(lane).await),
            };
            tower::ServiceExt::oneshot(inner, request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_grant_goes_before_waiting_bookkeeping() {
        let slots = Slots::new(1);
        let held = slots.acquire(Lane::Grants).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let waiter = |lane, name: &'static str| {
            let (slots, order) = (slots.clone(), order.clone());
            tokio::spawn(async move {
                let _slot = slots.acquire(lane).await;
                order.lock().unwrap().push(name);
            })
        };
        let notes = waiter(Lane::Bookkeeping, "note");
        tokio::task::yield_now().await;
        let grant = waiter(Lane::Grants, "grant");
        tokio::task::yield_now().await;
        drop(held);
        grant.await.unwrap();
        notes.await.unwrap();
        assert_eq!(*order.lock().unwrap(), vec!["grant", "note"]);
        assert_eq!(slots.free(), 1, "every slot came back");
    }

    #[tokio::test]
    async fn bookkeeping_takes_free_slots_while_no_grant_waits() {
        let slots = Slots::new(2);
        let a = slots.acquire(Lane::Bookkeeping).await;
        let b = slots.acquire(Lane::Bookkeeping).await;
        assert_eq!(slots.free(), 0);
        drop((a, b));
        assert_eq!(slots.free(), 2);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_keep_a_slot() {
        let slots = Slots::new(1);
        let held = slots.acquire(Lane::Grants).await;
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            slots.acquire(Lane::Bookkeeping),
        )
        .await;
        assert!(gave_up.is_err());
        drop(held);
        assert_eq!(slots.free(), 1);
        let _again = slots.acquire(Lane::Bookkeeping).await;
        assert_eq!(slots.free(), 0);
    }

    #[tokio::test]
    async fn bookkeeping_starts_only_once_it_holds_a_slot() {
        let slots = Slots::new(1);
        assert_eq!(current(), Lane::Grants);
        let held = slots.acquire(Lane::Grants).await;
        let started = Arc::new(Mutex::new(false));
        let note = {
            let (slots, started) = (slots.clone(), started.clone());
            tokio::spawn(async move {
                bookkeeping(&slots, async {
                    *started.lock().unwrap() = true;
                    // Nested bookkeeping runs in the slot already held.
                    bookkeeping(&slots, async { current() }).await
                })
                .await
            })
        };
        tokio::task::yield_now().await;
        assert!(!*started.lock().unwrap(), "no slot, not started");
        drop(held);
        assert_eq!(note.await.unwrap(), Lane::Held);
        assert_eq!(slots.free(), 1, "the slot came back");
    }
}
