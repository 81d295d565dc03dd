//! Who is acting: an identity that a transport layer (the tonic layer, a web framework's
//! middleware, a CLI) establishes around a call, and that every event logged inside the call
//! records as `details.actor`.
//!
//! The identity lives in a thread-local that is set only while the wrapped work runs: for a
//! future, during each `poll` (so it follows the future to whatever thread polls it, across
//! `.await`s), for a closure, during the call. Nothing here allocates unless an actor is set.
//!
//! ```
//! use audit_runtime::{AuditLogger, MemorySink, actor, audited};
//!
//! #[audited(action = "pause", logger = logger)]
//! fn pause(logger: &AuditLogger) {}
//!
//! let sink = MemorySink::new();
//! let logger = AuditLogger::in_memory(sink.clone());
//! // What a web framework's middleware does around each request, once it knows who called:
//! actor::scope("alice", || pause(&logger));
//! pause(&logger);
//!
//! let events = sink.events();
//! assert_eq!(events[0].details["actor"], "alice");
//! assert!(!events[1].details.contains_key("actor")); // no actor set, none recorded
//! ```

use std::future::Future;
use std::sync::Arc;

pub use super::context::WithContext;
use super::context::{self, Patch};

/// The actor of the call running on this thread, if a layer set one.
///
/// ```
/// use audit_runtime::actor;
/// assert_eq!(actor::current(), None);
/// actor::scope("alice", || {
///     assert_eq!(actor::current().as_deref(), Some("alice"));
///     actor::scope("nightly-job", || {
///         assert_eq!(actor::current().as_deref(), Some("nightly-job"));
///     });
///     assert_eq!(actor::current().as_deref(), Some("alice")); // restored
/// });
/// ```
pub fn current() -> Option<Arc<str>> {
    context::actor()
}

fn patch(actor: Arc<str>) -> Patch {
    Patch {
        actor: Some(actor),
        request: None,
    }
}

/// Runs `f` with `actor` as the current actor.
///
/// ```
/// use audit_runtime::actor;
/// let seen = actor::scope("alice", || actor::current());
/// assert_eq!(seen.as_deref(), Some("alice"));
/// assert_eq!(actor::current(), None);
/// ```
pub fn scope<R>(actor: impl Into<Arc<str>>, f: impl FnOnce() -> R) -> R {
    let _restore = context::enter(&patch(actor.into()));
    f()
}

/// Wraps `future` so that `actor` is the current actor whenever it is polled.
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, actor, audited};
///
/// #[audited(action = "evaluation_start", logger = logger)]
/// async fn start(logger: &AuditLogger) {
///     tokio::task::yield_now().await; // the actor stays set across `.await`s
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let sink = MemorySink::new();
/// let logger = AuditLogger::in_memory(sink.clone());
/// actor::with_actor("bob", start(&logger)).await;
/// assert_eq!(sink.events()[0].details["actor"], "bob");
/// assert_eq!(actor::current(), None); // set only while the future is polled
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn with_actor<F: Future>(actor: impl Into<Arc<str>>, future: F) -> WithActor<F> {
    WithContext::new(patch(actor.into()), future)
}

/// A future that runs its inner future with an actor set; see [`with_actor`].
///
/// The actor is also current while the inner future is *dropped*, so code that logs from a
/// destructor (the event of a call cancelled by its client) still records who called.
///
/// ```
/// use std::time::Duration;
/// use audit_runtime::{AuditLogger, MemorySink, Status, actor, audited};
///
/// #[audited(action = "evaluation_start", logger = logger)]
/// async fn train(logger: &AuditLogger) {
///     tokio::time::sleep(Duration::from_secs(3600)).await;
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let sink = MemorySink::new();
/// let logger = AuditLogger::in_memory(sink.clone());
/// // The client gives up after 10 ms: the call's future is dropped unfinished.
/// let call = actor::with_actor("carol", train(&logger));
/// assert!(tokio::time::timeout(Duration::from_millis(10), call).await.is_err());
///
/// let event = &sink.events()[0];
/// assert_eq!(event.status, Status::Failed);
/// assert_eq!(event.details["actor"], "carol");
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub type WithActor<F> = WithContext<F>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logger::context::tests::noop_waker;
    use std::task::{Context, Poll};

    #[test]
    fn scopes_nest_and_restore() {
        scope("outer", || {
            assert_eq!(current().as_deref(), Some("outer"));
            scope("inner", || assert_eq!(current().as_deref(), Some("inner")));
            assert_eq!(current().as_deref(), Some("outer"));
        });
        assert_eq!(current(), None);
    }

    #[test]
    fn restored_after_a_panic() {
        let caught = std::panic::catch_unwind(|| scope("p", || panic!("boom")));
        assert!(caught.is_err());
        assert_eq!(current(), None);
    }

    #[test]
    fn actor_is_current_while_the_future_is_dropped() {
        struct Probe(std::sync::Arc<std::sync::Mutex<Option<Arc<str>>>>);
        impl Drop for Probe {
            fn drop(&mut self) {
                *self.0.lock().unwrap() = current();
            }
        }
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let probe = Probe(seen.clone());
        let fut = with_actor("carol", async move {
            let _probe = probe;
            std::future::pending::<()>().await;
        });
        let mut fut = Box::pin(fut);
        let waker = noop_waker();
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(fut); // cancelled mid-way
        assert_eq!(seen.lock().unwrap().as_deref(), Some("carol"));
        assert_eq!(current(), None);
    }

    #[test]
    fn future_sees_actor_only_while_polled() {
        let mut fut = Box::pin(with_actor("bob", async { current() }));
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(seen) => assert_eq!(seen.as_deref(), Some("bob")),
            Poll::Pending => panic!("ready future was pending"),
        }
        assert_eq!(current(), None);
    }
}
