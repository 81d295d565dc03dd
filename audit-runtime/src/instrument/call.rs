//! The per-call state of an `#[audited]` function: [`Call`], started before the body and
//! finished with its outcome, and [`Scoped`], the body's future polled with the call's scope
//! current. A panic in the body is logged and then continues unchanged; a call dropped
//! before it finished (a cancelled future) logs a failed event.
//!
//! # Cost when auditing is off
//! What the generated code inlines into the user's function is only the test of whether the
//! call is recorded (one relaxed atomic load of the site's own gate, or the logger's enabled
//! flag) and the tests of `state` that follow it, which the optimiser folds into that branch. Everything a recorded
//! call does is out of line, and its entry (`begin_*`) is `#[cold]`, so the recorded path
//! is laid out away from the function's own code and no call is made when auditing is off.
//! (The functions of the recorded path itself are not `#[cold]`: that made the optimiser
//! stop inlining the serialisation inside them.) A recorded call costs microseconds in the
//! log file anyway; the calls out of line add a few nanoseconds there.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::Serialize;
use serde_json::{Map, Value};

use super::assemble::{refused_event, to_detail, write_events};
use super::diff::changed_keys;
use super::outcome::Outcome;
use super::scope::{self, State};
use super::site::Site;
use crate::logger::context;
use crate::request::{self, RequestIds};
use crate::{AuditLogger, AuditUnavailable, actor};

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
    /// The test is of the site's own copy of the flag (see `Gate`); only a site that saw it
    /// on, or has not looked yet, goes out of line, where the flag itself is read.
    #[inline(always)]
    pub fn start(site: &'static Site) -> Call {
        if site.gate.is_off() {
            Call { state: None }
        } else {
            Call::begin_global(site)
        }
    }

    /// A call logged through `logger`, or an inactive one when it is disabled.
    #[inline(always)]
    pub fn start_with(site: &'static Site, logger: &AuditLogger) -> Call {
        if logger.is_enabled() {
            Call::begin_with(site, logger)
        } else {
            Call { state: None }
        }
    }

    #[cold]
    #[inline(never)]
    fn begin_global(site: &'static Site) -> Call {
        if site.gate.open() {
            Call::begin(site, None)
        } else {
            Call { state: None }
        }
    }

    #[cold]
    #[inline(never)]
    fn begin_with(site: &'static Site, logger: &AuditLogger) -> Call {
        Call::begin(site, Some(logger.clone()))
    }

    fn begin(site: &'static Site, logger: Option<AuditLogger>) -> Call {
        Call {
            state: Some(Box::new(State {
                site,
                logger,
                // Taken now: a cancelled future is dropped outside any actor scope.
                actor: actor::current(),
                request: request::current().unwrap_or_else(RequestIds::generate),
                details: Map::with_capacity(site.details_capacity()),
                chosen: None,
                violation: None,
                extra: Vec::new(),
                skip: false,
            })),
        }
    }

    /// Whether this call is recorded; the generated code evaluates `details`, `capture` and
    /// the outcome only then.
    #[inline(always)]
    pub fn is_active(&self) -> bool {
        self.state.is_some()
    }

    /// Adds a `details(key = value)` entry.
    #[inline(always)]
    pub fn detail<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        if let Some(state) = &mut self.state {
            add_detail(state, key, value);
        }
    }

    /// Records `capture` before the body.
    #[inline(always)]
    pub fn capture_before<T: Serialize + ?Sized>(&mut self, value: &T) {
        if let Some(state) = &mut self.state {
            add_detail(state, "before", value);
        }
    }

    /// Records `capture` after the body, and the keys that changed.
    #[inline(always)]
    pub fn capture_after<T: Serialize + ?Sized>(&mut self, value: &T) {
        if let Some(state) = &mut self.state {
            add_capture_after(state, value);
        }
    }

    /// Runs a sync body with this call's scope current. A panic is logged (as failed, with
    /// its message) and then continues unchanged.
    #[inline(always)]
    pub fn run_sync<R>(&mut self, body: impl FnOnce() -> R) -> R {
        match self.state.take() {
            None => body(),
            Some(state) => {
                let (value, state) = run_recorded(state, body);
                self.state = state;
                value
            }
        }
    }

    /// Wraps the body's future so that this call's scope is current during each poll and a
    /// panic is logged before it continues.
    #[inline(always)]
    pub fn scoped<F: Future>(&mut self, body: F) -> Scoped<'_, F> {
        Scoped { call: self, body }
    }

    /// Fail-closed auditing, before anything of the call is evaluated: when the call's
    /// logger (or its site) is fail-closed and the log cannot take events, logs the refusal
    /// and returns the function's result that `convert` makes of it, so that the generated
    /// code returns it instead of running the body. `None` (the call goes ahead) otherwise,
    /// and when `convert` cannot express the refusal in the function's return type.
    #[inline(always)]
    pub fn refuse_with<R>(
        &mut self,
        convert: impl FnOnce(AuditUnavailable) -> Option<R>,
    ) -> Option<R> {
        if self.state.is_some() {
            refuse_recorded(&mut self.state, convert)
        } else {
            None
        }
    }

    /// Logs the call's events with `outcome`. Called once, when the body has returned.
    #[inline(always)]
    pub fn finish(&mut self, outcome: Outcome) {
        if let Some(state) = self.state.take() {
            finish_recorded(state, outcome);
        }
    }

    /// [`finish_with`](Self::finish_with) for a function that can carry
    /// [`AuditUnavailable`]: when the call is fail-closed and its event could not be
    /// written, returns what `convert` makes of the error instead of the body's result.
    #[inline(always)]
    pub fn finish_checked<R>(
        &mut self,
        result: R,
        outcome: impl FnOnce(&R) -> Outcome,
        convert: impl FnOnce(AuditUnavailable) -> Option<R>,
    ) -> R {
        match self.state.take() {
            None => result,
            Some(state) => finish_checked_recorded(state, result, outcome, convert),
        }
    }

    /// Logs the call's events with the outcome `outcome` reads from the body's `result`, and
    /// hands the result back. The generated code passes the result through rather than
    /// borrowing it, so that when auditing is off its address is never taken and it goes
    /// straight to the function's return value.
    #[inline(always)]
    pub fn finish_with<R>(&mut self, result: R, outcome: impl FnOnce(&R) -> Outcome) -> R {
        match self.state.take() {
            None => result,
            Some(state) => finish_with_recorded(state, result, outcome),
        }
    }
}

impl Drop for Call {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            unfinished(state);
        }
    }
}

// The recorded call's work, out of line. Each function is given the state (the heap
// pointer the `Call` holds, or the box itself when the state must move) rather than
// `&mut Call`: a `Call` whose address never leaves the user's function stays in a register
// there, so the tests of it after the body fold into the first one. A state lent by
// pointer stays owned by the `Call`, so a panic meanwhile (a detail's `Serialize`) drops
// the `Call` with it and logs the call as unfinished.

/// A recorded call's state moved into out-of-line code: a panic that unwinds through (a
/// user's `AuditOutcome`) logs the call as unfinished, as dropping the `Call` holding it
/// would have.
struct Held(Option<Box<State>>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            unfinished(state);
        }
    }
}

#[inline(never)]
fn add_detail<T: Serialize + ?Sized>(state: &mut State, key: &'static str, value: &T) {
    state.details.insert(key.to_owned(), to_detail(value));
}

#[inline(never)]
fn add_capture_after<T: Serialize + ?Sized>(state: &mut State, value: &T) {
    let after = to_detail(value);
    // `changed` is read from both sides first, so that `after` moves in uncopied.
    let changed = match (state.details.get("before"), &after) {
        (Some(Value::Object(before)), Value::Object(after)) => Some(changed_keys(before, after)),
        _ => None,
    };
    state.details.insert("after".to_owned(), after);
    if let Some(changed) = changed {
        state
            .details
            .insert("changed".to_owned(), Value::Object(changed));
    }
}

/// Runs the body with the call's scope current; hands the state back with its result.
#[inline(never)]
fn run_recorded<R>(state: Box<State>, body: impl FnOnce() -> R) -> (R, Option<Box<State>>) {
    let _request = context::enter(&state.request_patch());
    let previous = scope::enter(state);
    let result = catch_unwind(AssertUnwindSafe(body));
    let state = scope::exit(previous);
    match result {
        Ok(value) => (value, state),
        Err(payload) => panicked(state, payload),
    }
}

/// Logs the call as failed with the panic's message, then continues the panic.
#[cold]
#[inline(never)]
fn panicked(state: Option<Box<State>>, payload: Box<dyn Any + Send>) -> ! {
    if let Some(state) = state {
        let message = panic_message(&*payload);
        write_events(*state, Outcome::failed(format!("panicked: {message}")));
    }
    resume_unwind(payload)
}

#[inline(never)]
#[expect(
    clippy::boxed_local,
    reason = "one pointer from the inlined caller, not the state moved there"
)]
fn finish_recorded(state: Box<State>, outcome: Outcome) {
    write_events(*state, outcome);
}

#[inline(never)]
fn finish_with_recorded<R>(state: Box<State>, result: R, outcome: impl FnOnce(&R) -> Outcome) -> R {
    // A panic while the outcome is read (a user's `AuditOutcome`) logs the call as
    // unfinished, as it did when the state stayed in the `Call` meanwhile.
    let mut held = Held(Some(state));
    let outcome = outcome(&result);
    if let Some(state) = held.0.take() {
        write_events(*state, outcome);
    }
    result
}

#[inline(never)]
fn finish_checked_recorded<R>(
    state: Box<State>,
    result: R,
    outcome: impl FnOnce(&R) -> Outcome,
    convert: impl FnOnce(AuditUnavailable) -> Option<R>,
) -> R {
    let mut held = Held(Some(state));
    let outcome = outcome(&result);
    let Some(state) = held.0.take() else {
        return result;
    };
    let site_fail_closed = state.site.fail_closed;
    let logger = state.logger.clone();
    let Some(error) = write_events(*state, outcome) else {
        return result;
    };
    // Only a failed write looks for the global logger: the success path takes no lock.
    match logger.or_else(crate::global) {
        Some(logger) if site_fail_closed || logger.is_fail_closed() => {
            convert(logger.not_recorded(&error)).unwrap_or(result)
        }
        _ => result,
    }
}

/// See [`Call::refuse_with`]: the recorded path, out of line.
#[cold]
#[inline(never)]
fn refuse_recorded<R>(
    slot: &mut Option<Box<State>>,
    convert: impl FnOnce(AuditUnavailable) -> Option<R>,
) -> Option<R> {
    let state = slot.as_deref()?;
    let logger = state.logger.clone().or_else(crate::global)?;
    if !(state.site.fail_closed || logger.is_fail_closed()) {
        return None;
    }
    let unavailable = logger.check_ready().err()?;
    let Some(refused) = convert(unavailable.clone()) else {
        cannot_refuse(state.site);
        return None;
    };
    if let Some(state) = slot.take() {
        refused_event(&logger, *state, &unavailable);
    }
    Some(refused)
}

/// A fail-closed logger met a function whose return type cannot carry the refusal: it runs
/// (its failure to log is counted as usual), and `tracing` says so once per process.
fn cannot_refuse(site: &Site) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            target: "audit",
            "a {} call ran although the audit log cannot take events: its return type cannot              carry AuditUnavailable (write #[audited(fail_closed)] to make that a compile              error; reported once)",
            site.primary()
        );
    }
}

/// A call dropped before it finished: its future was dropped, or a panic outside the body
/// (in `capture`, say) unwound through it.
#[cold]
#[inline(never)]
#[expect(
    clippy::boxed_local,
    reason = "one pointer from the inlined caller, not the state moved there"
)]
fn unfinished(state: Box<State>) {
    let error = if std::thread::panicking() {
        "panicked"
    } else {
        "cancelled"
    };
    write_events(*state, Outcome::failed(error));
}

/// The body's future, polled with its call's scope current; see [`Call::scoped`].
pub struct Scoped<'a, F> {
    call: &'a mut Call,
    body: F,
}

impl<F: Future> Future for Scoped<'_, F> {
    type Output = F::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `body` is structurally pinned: it is never moved out of `self` and
        // `Scoped` has no `Drop` impl; `call` is a plain reference and is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this` came from a pinned reference.
        let body = unsafe { Pin::new_unchecked(&mut this.body) };
        match this.call.state.take() {
            None => body.poll(cx),
            Some(state) => {
                let (poll, state) = poll_recorded(state, body, cx);
                this.call.state = state;
                poll
            }
        }
    }
}

/// One poll of a recorded call's body, with its scope current; hands the state back.
#[inline(never)]
fn poll_recorded<F: Future>(
    state: Box<State>,
    body: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> (Poll<F::Output>, Option<Box<State>>) {
    let _request = context::enter(&state.request_patch());
    let previous = scope::enter(state);
    let result = catch_unwind(AssertUnwindSafe(|| body.poll(cx)));
    let state = scope::exit(previous);
    match result {
        Ok(poll) => (poll, state),
        Err(payload) => panicked(state, payload),
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
    use crate::instrument::site::declare;
    use crate::logger::global::Gate;
    use crate::{Action, MemorySink};

    static SITE: Site = Site {
        actions: &[declare(&Action::Pause)],
        redact: &[],
        fail_closed: false,
        hash: &[],
        gate: Gate::new(),
        details: 0,
    };

    struct Panics;

    impl Serialize for Panics {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            panic!("no serialising this")
        }
    }

    fn recorded() -> (MemorySink, AuditLogger) {
        let sink = MemorySink::new();
        let logger = AuditLogger::in_memory(sink.clone());
        (sink, logger)
    }

    #[test]
    fn a_panic_while_recording_a_detail_logs_the_call_as_panicked() {
        let (sink, logger) = recorded();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let mut call = Call::start_with(&SITE, &logger);
            call.detail("before_the_panic", &1);
            call.detail("boom", &Panics);
            unreachable!("the detail panicked");
        }));
        assert!(caught.is_err());
        let events = sink.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].error.as_deref(), Some("panicked"));
        assert_eq!(events[0].details["before_the_panic"], 1);
    }

    #[test]
    fn a_panic_in_capture_after_logs_the_call_as_panicked() {
        let (sink, logger) = recorded();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let mut call = Call::start_with(&SITE, &logger);
            call.capture_before(&serde_json::json!({"lr": 1}));
            call.run_sync(|| ());
            call.capture_after(&Panics);
        }));
        assert!(caught.is_err());
        let events = sink.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].error.as_deref(), Some("panicked"));
        assert_eq!(events[0].details["before"], serde_json::json!({"lr": 1}));
    }

    #[test]
    fn a_call_dropped_unfinished_is_cancelled_and_a_finished_one_logs_once() {
        let (sink, logger) = recorded();
        drop(Call::start_with(&SITE, &logger));
        let mut call = Call::start_with(&SITE, &logger);
        assert_eq!(call.run_sync(|| 7), 7);
        call.finish(Outcome::success());
        drop(call);
        let events = sink.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].error.as_deref(), Some("cancelled"));
        assert_eq!(events[1].error, None);
    }

    #[test]
    fn finish_with_hands_the_result_back_and_a_panic_reading_it_is_logged() {
        let (sink, logger) = recorded();
        let mut call = Call::start_with(&SITE, &logger);
        let result = call.run_sync(|| Err::<u8, _>("no".to_owned()));
        let result = call.finish_with(result, |r| Outcome::failed(r.clone().unwrap_err()));
        assert_eq!(result, Err("no".to_owned()));
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let mut call = Call::start_with(&SITE, &logger);
            call.finish_with(1, |_| panic!("outcome failed"))
        }));
        assert!(caught.is_err());
        let errors: Vec<_> = sink.events().into_iter().map(|e| e.error).collect();
        assert_eq!(errors, [Some("no".to_owned()), Some("panicked".to_owned())]);
    }

    #[test]
    fn a_panic_in_the_body_is_logged_with_its_message_and_continues() {
        let (sink, logger) = recorded();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let mut call = Call::start_with(&SITE, &logger);
            call.run_sync(|| panic!("body failed"))
        }));
        assert!(caught.is_err());
        let events = sink.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].error.as_deref(), Some("panicked: body failed"));
    }

    #[test]
    fn an_inactive_call_runs_the_body_and_records_nothing() {
        let logger = AuditLogger::builder(std::env::temp_dir())
            .format(crate::Format::None)
            .build()
            .unwrap();
        let mut call = Call::start_with(&SITE, &logger);
        assert!(!call.is_active());
        call.detail("never", &Panics);
        assert_eq!(call.run_sync(|| 7), 7);
        call.finish(Outcome::success());
    }

    #[test]
    fn panic_messages() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&7u8), "a non-string panic payload");
    }
}
