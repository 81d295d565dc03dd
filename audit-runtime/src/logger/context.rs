//! The ambient context of a call: who is acting ([`crate::actor`]) and which request the
//! work belongs to ([`crate::request`]). A transport layer or `#[audited]` sets it around a
//! call, and every event logged inside the call records it.
//!
//! It lives in one thread-local that is set only while the wrapped work runs: for a future,
//! during each `poll` (so it follows the future to whatever thread polls it, across
//! `.await`s) and while it is dropped; for a closure, during the call. Both parts share one
//! home so that one wrapper carries both and a layer that knows both sets them at once.

use std::cell::RefCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::request::RequestIds;

/// What is current on this thread.
#[derive(Debug, Clone, Default)]
struct Current {
    actor: Option<Arc<str>>,
    request: Option<RequestIds>,
}

thread_local! {
    static CURRENT: RefCell<Current> = const {
        RefCell::new(Current { actor: None, request: None })
    };
}

/// The actor current on this thread.
pub(crate) fn actor() -> Option<Arc<str>> {
    CURRENT
        .try_with(|c| c.borrow().actor.clone())
        .unwrap_or_default()
}

/// The request current on this thread.
pub(crate) fn request() -> Option<RequestIds> {
    CURRENT
        .try_with(|c| c.borrow().request.clone())
        .unwrap_or_default()
}

/// What a scope sets; a part left `None` keeps what is current.
#[derive(Debug, Clone, Default)]
pub(crate) struct Patch {
    pub(crate) actor: Option<Arc<str>>,
    pub(crate) request: Option<RequestIds>,
}

impl Patch {
    fn is_empty(&self) -> bool {
        self.actor.is_none() && self.request.is_none()
    }
}

/// Restores the previous context when dropped, also on panic.
pub(crate) struct Restore(Option<Current>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            // During thread teardown there is nothing left to restore.
            let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
        }
    }
}

/// Makes `patch` current until the returned guard is dropped.
pub(crate) fn enter(patch: &Patch) -> Restore {
    if patch.is_empty() {
        return Restore(None);
    }
    let previous = CURRENT.try_with(|c| {
        let mut current = c.borrow_mut();
        let previous = current.clone();
        if let Some(actor) = &patch.actor {
            current.actor = Some(actor.clone());
        }
        if let Some(request) = &patch.request {
            current.request = Some(request.clone());
        }
        previous
    });
    Restore(previous.ok())
}

/// A future that runs its inner future with an actor and/or a request current; made by
/// [`crate::actor::with_actor`] and [`crate::request::with_request`].
///
/// The context is also current while the inner future is *dropped*, so code that logs from
/// a destructor (the event of a call cancelled by its client) still records who called and
/// for which request.
#[derive(Debug)]
pub struct WithContext<F> {
    patch: Patch,
    inner: ManuallyDrop<F>,
}

impl<F> WithContext<F> {
    pub(crate) fn new(patch: Patch, future: F) -> Self {
        WithContext {
            patch,
            inner: ManuallyDrop::new(future),
        }
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self` (only
        // dropped in place, in `Drop`), and `patch` is only read, never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _restore = enter(&this.patch);
        // SAFETY: see above; `this` came from a pinned reference.
        unsafe { Pin::new_unchecked(&mut *this.inner) }.poll(cx)
    }
}

impl<F> Drop for WithContext<F> {
    fn drop(&mut self) {
        let _restore = enter(&self.patch);
        // SAFETY: `inner` is dropped exactly once, here, in place (as pinning requires), and
        // never used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.inner) }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::task::{RawWaker, RawWakerVTable, Waker};

    pub(crate) fn noop_waker() -> Waker {
        fn clone(_: *const ()) -> RawWaker {
            RawWaker::new(std::ptr::null(), &VTABLE)
        }
        fn noop(_: *const ()) {}
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        // SAFETY: every vtable function ignores the null data pointer.
        unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
    }

    #[test]
    fn a_patch_sets_only_its_parts_and_the_guard_restores_all() {
        let ids = RequestIds::generate();
        let _outer = enter(&Patch {
            actor: Some("alice".into()),
            request: None,
        });
        {
            let _inner = enter(&Patch {
                actor: None,
                request: Some(ids.clone()),
            });
            assert_eq!(actor().as_deref(), Some("alice"));
            assert_eq!(request(), Some(ids));
        }
        assert_eq!(actor().as_deref(), Some("alice"));
        assert_eq!(request(), None);
    }

    #[test]
    fn the_context_is_current_while_the_future_is_dropped() {
        struct Probe(Arc<std::sync::Mutex<Option<RequestIds>>>);
        impl Drop for Probe {
            fn drop(&mut self) {
                if let Ok(mut seen) = self.0.lock() {
                    *seen = request();
                }
            }
        }
        let ids = RequestIds::generate();
        let seen = Arc::new(std::sync::Mutex::new(None));
        let probe = Probe(seen.clone());
        let patch = Patch {
            actor: None,
            request: Some(ids.clone()),
        };
        let mut fut = Box::pin(WithContext::new(patch, async move {
            let _probe = probe;
            std::future::pending::<()>().await;
        }));
        let waker = noop_waker();
        assert!(
            fut.as_mut()
                .poll(&mut TaskContext::from_waker(&waker))
                .is_pending()
        );
        assert_eq!(request(), None, "set only while polled");
        drop(fut);
        assert_eq!(*seen.lock().unwrap(), Some(ids));
        assert_eq!(request(), None);
    }
}
