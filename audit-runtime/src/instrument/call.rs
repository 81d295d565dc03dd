//! The per-call state of an `#[audited]` function: [`Call`], started before the body and
//! finished with its outcome, and [`Scoped`], the body's future polled with the call's scope
//! current. A panic in the body is logged and then continues unchanged; a call dropped
//! before it finished (a cancelled future) logs a failed event.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::Serialize;
use serde_json::{Map, Value};

use super::assemble::{to_detail, write_events};
use super::diff::changed_keys;
use super::outcome::Outcome;
use super::scope::{self, State};
use super::site::Site;
use crate::{AuditLogger, actor};

/// The per-call audit state held by the generated code: empty (and free) when auditing is
/// off, so nothing is evaluated or allocated.
///
/// Dropping a call that has not finished logs a failed event: `cancelled` (the future was
/// dropped) or `panicked` (a panic outside the body, e.g. in `capture`).
pub struct Call {
    state: Option<Box<State>>,
}

impl Call {
    /// A call logged through the global logger, or an inactive one when auditing is off.
    #[inline]
    pub fn start(site: &'static Site) -> Call {
        if !crate::is_active() {
            return Call { state: None };
        }
        Call::begin(site, None)
    }

    /// A call logged through `logger`, or an inactive one when it is disabled.
    #[inline]
    pub fn start_with(site: &'static Site, logger: &AuditLogger) -> Call {
        if !logger.is_enabled() {
            return Call { state: None };
        }
        Call::begin(site, Some(logger.clone()))
    }

    #[inline(never)]
    fn begin(site: &'static Site, logger: Option<AuditLogger>) -> Call {
        Call {
            state: Some(Box::new(State {
                site,
                logger,
                // Taken now: a cancelled future is dropped outside any actor scope.
                actor: actor::current(),
                details: Map::new(),
                chosen: None,
                violation: None,
                extra: Vec::new(),
                skip: false,
            })),
        }
    }

    /// Whether this call is recorded; the generated code evaluates `details`, `capture` and
    /// the outcome only then.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.state.is_some()
    }

    /// Adds a `details(key = value)` entry.
    pub fn detail<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        if let Some(state) = &mut self.state {
            state.details.insert(key.to_owned(), to_detail(value));
        }
    }

    /// Records `capture` before the body.
    pub fn capture_before<T: Serialize + ?Sized>(&mut self, value: &T) {
        if let Some(state) = &mut self.state {
            state.details.insert("before".to_owned(), to_detail(value));
        }
    }

    /// Records `capture` after the body, and the keys that changed.
    pub fn capture_after<T: Serialize + ?Sized>(&mut self, value: &T) {
        if let Some(state) = &mut self.state {
            let after = to_detail(value);
            if let (Some(Value::Object(before)), Value::Object(after)) =
                (state.details.get("before"), &after)
            {
                let changed = changed_keys(before, after);
                state
                    .details
                    .insert("after".to_owned(), Value::Object(after.clone()));
                state
                    .details
                    .insert("changed".to_owned(), Value::Object(changed));
            } else {
                state.details.insert("after".to_owned(), after);
            }
        }
    }

    /// Runs a sync body with this call's scope current. A panic is logged (as failed, with
    /// its message) and then continues unchanged.
    #[inline]
    pub fn run_sync<R>(&mut self, body: impl FnOnce() -> R) -> R {
        let Some(state) = self.state.take() else {
            return body();
        };
        let previous = scope::enter(state);
        let result = catch_unwind(AssertUnwindSafe(body));
        self.state = scope::exit(previous);
        match result {
            Ok(value) => value,
            Err(payload) => self.panicked(payload),
        }
    }

    /// Wraps the body's future so that this call's scope is current during each poll and a
    /// panic is logged before it continues.
    #[inline]
    pub fn scoped<F: Future>(&mut self, body: F) -> Scoped<'_, F> {
        Scoped { call: self, body }
    }

    fn panicked(&mut self, payload: Box<dyn Any + Send>) -> ! {
        let message = panic_message(&*payload);
        self.finish(Outcome::failed(format!("panicked: {message}")));
        resume_unwind(payload)
    }

    /// Logs the call's events with `outcome`. Called once, when the body has returned.
    pub fn finish(&mut self, outcome: Outcome) {
        if let Some(state) = self.state.take() {
            write_events(*state, outcome);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            let error = if std::thread::panicking() {
                "panicked"
            } else {
                "cancelled"
            };
            write_events(*state, Outcome::failed(error));
        }
    }
}

/// The body's future, polled with its call's scope current; see [`Call::scoped`].
pub struct Scoped<'a, F> {
    call: &'a mut Call,
    body: F,
}

impl<F: Future> Future for Scoped<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `body` is structurally pinned: it is never moved out of `self` and
        // `Scoped` has no `Drop` impl; `call` is a plain reference and is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this` came from a pinned reference.
        let body = unsafe { Pin::new_unchecked(&mut this.body) };
        let Some(state) = this.call.state.take() else {
            return body.poll(cx);
        };
        let previous = scope::enter(state);
        let result = catch_unwind(AssertUnwindSafe(|| body.poll(cx)));
        this.call.state = scope::exit(previous);
        match result {
            Ok(poll) => poll,
            Err(payload) => this.call.panicked(payload),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&7u8), "a non-string panic payload");
    }
}
