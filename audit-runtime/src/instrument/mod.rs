//! The run-time half of `#[audited]`: call sites, event assembly, outcome probing, extra
//! events. The generated code reaches it through `__private` (re-exports only).
//!
//! This module must never panic into, or change the result of, the user's function: a
//! logging failure is counted and reported through `tracing` by the logger, and swallowed.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::outcome::{AuditFailure, AuditOutcome, Outcome};
use crate::pipeline::{Actor, Draft};
use crate::scope::{self, State};
use crate::{AuditAction, AuditLogger, Status, actor, finite};

pub use crate::outcome::{AsFlag, AsMessage, from_flag};

/// A declared action as stored in a call site's `static`.
pub type DeclaredAction = &'static dyn AuditAction;

/// Turns an action value into a [`DeclaredAction`]; `const` so it can build a `static`, and
/// generic so that a path that is not an action fails with the trait's own message.
pub const fn declare<A: AuditAction>(action: &'static A) -> DeclaredAction {
    action
}

/// What one `#[audited]` function declares; one `static` per annotated function.
pub struct Site {
    /// The declared actions, in the attribute's order; the first is the default.
    pub actions: &'static [DeclaredAction],
    /// Detail keys whose values are written as `"[REDACTED]"`, at any depth.
    pub redact: &'static [&'static str],
}

impl Site {
    pub(crate) fn declares(&self, name: &str) -> bool {
        self.actions.iter().any(|a| a.name() == name)
    }

    pub(crate) fn declared_list(&self) -> String {
        let names: Vec<&str> = self.actions.iter().map(|a| a.name()).collect();
        names.join(" | ")
    }

    fn primary(&self) -> &'static str {
        self.actions.first().map_or("unknown", |a| a.name())
    }
}

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

/// Serialises a detail value, keeping non-finite floats; a value that cannot be serialised
/// becomes a string saying why (and stderr says so once).
pub(crate) fn to_detail<T: Serialize + ?Sized>(value: &T) -> Value {
    // Bounded: a value nested without limit is cut where the logger will refuse it anyway,
    // so that redaction, `changed` and the final check never recurse without bound.
    match finite::to_value_within(value, crate::event::MAX_DETAILS_DEPTH) {
        Ok(v) => v,
        Err(e) => {
            warn_once(
                &SERIALIZE_WARNED,
                format_args!("audit log: a detail could not be serialised: {e}"),
            );
            Value::String(format!("[unserializable: {e}]"))
        }
    }
}

fn changed_keys(before: &Map<String, Value>, after: &Map<String, Value>) -> Map<String, Value> {
    let mut changed = Map::new();
    for (key, old) in before {
        let new = after.get(key).unwrap_or(&Value::Null);
        if old != new {
            changed.insert(key.clone(), pair(old.clone(), new.clone()));
        }
    }
    for (key, new) in after {
        if !before.contains_key(key) {
            changed.insert(key.clone(), pair(Value::Null, new.clone()));
        }
    }
    changed
}

fn pair(before: Value, after: Value) -> Value {
    let mut map = Map::new();
    map.insert("before".to_owned(), before);
    map.insert("after".to_owned(), after);
    Value::Object(map)
}

/// The text written in place of a redacted value.
pub use crate::pipeline::REDACTED;

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

fn write_events(state: State, outcome: Outcome) {
    let State {
        site,
        logger,
        actor,
        mut details,
        chosen,
        mut violation,
        extra,
        skip,
    } = state;
    let Outcome {
        mut status,
        mut error,
        details: outcome_details,
    } = outcome;
    details.extend(outcome_details);
    let action = match chosen {
        Some(name) => name,
        None if site.actions.len() <= 1 => site.primary(),
        None => {
            // Several declared, none chosen: never guess a name. A failed call keeps its own
            // error; a successful one is reported as a handler bug.
            if !skip {
                details.insert(
                    "action_undecided".to_owned(),
                    Value::Array(
                        site.actions
                            .iter()
                            .map(|a| Value::String(a.name().to_owned()))
                            .collect(),
                    ),
                );
            }
            if status == Status::Success && !skip {
                violation.get_or_insert_with(|| {
                    format!(
                        "the handler declares several actions ({}) and did not choose one \
                         with audit_runtime::scope::set_action",
                        site.declared_list()
                    )
                });
            }
            site.primary()
        }
    };
    // A skipped call logs only what it emitted, unless it broke a rule: that is logged.
    let log_main = match violation {
        Some(violation) => {
            let call = match &error {
                Some(e) => format!("the call failed: {e}"),
                None => "the call itself succeeded".to_owned(),
            };
            error = Some(format!("audited: {violation} ({call})"));
            status = Status::Failed;
            true
        }
        None => !skip,
    };
    // The pipeline adds the actor taken when the call started, redacts, and checks.
    let write = |action: &str, details: Map<String, Value>| {
        let draft = Draft {
            actor: Actor::Captured(actor.clone()),
            redact: site.redact,
            ..Draft::new(action, status, details, error.as_deref())
        };
        log_one(logger.as_ref(), action, draft);
    };
    for (name, own) in &extra {
        let mut merged = details.clone();
        merged.extend(own.clone());
        write(name, merged);
    }
    if log_main {
        write(action, details);
    }
}

fn log_one(logger: Option<&AuditLogger>, action: &str, draft: Draft<'_>) {
    let result = match logger {
        Some(logger) => logger.submit(draft),
        None => crate::global::submit(draft),
    };
    // A logger counts and reports its own failures (rate-limited, see `AuditLogger::stats`);
    // only an event refused before any logger exists is reported here.
    if let Err(e) = result
        && logger.is_none()
        && crate::global().is_none()
    {
        warn_once(
            &LOG_WARNED,
            format_args!(
                "could not record a {action} event: {e:?} (further failures of this kind before \
                 audit_runtime::init are not reported)"
            ),
        );
    }
}

static LOG_WARNED: AtomicBool = AtomicBool::new(false);
static SERIALIZE_WARNED: AtomicBool = AtomicBool::new(false);

fn warn_once(flag: &AtomicBool, message: std::fmt::Arguments<'_>) {
    if !flag.swap(true, Ordering::Relaxed) {
        tracing::warn!(target: "audit", "{message}");
    }
}

/// Autoref-specialised probes that turn a returned value into an [`Outcome`] without the
/// user annotating anything. The generated code calls them with the probed value behind
/// as many `&` as the probe has levels; method resolution then picks the most specific
/// impl whose bounds hold.
pub mod probe {
    use std::fmt::{Debug, Display};

    use super::{AuditFailure, AuditOutcome, Outcome};

    /// The value under inspection.
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    /// `Ok` value, level 1: it says itself.
    pub trait OkSaysItself {
        /// The outcome.
        fn __audited_ok_outcome(&self) -> Outcome;
    }
    impl<T: AuditOutcome + ?Sized> OkSaysItself for &Probe<'_, T> {
        fn __audited_ok_outcome(&self) -> Outcome {
            self.0.audit_outcome()
        }
    }
    /// `Ok` value, level 2: success.
    pub trait OkIsSuccess {
        /// The outcome.
        fn __audited_ok_outcome(&self) -> Outcome;
    }
    impl<T: ?Sized> OkIsSuccess for Probe<'_, T> {
        fn __audited_ok_outcome(&self) -> Outcome {
            Outcome::success()
        }
    }

    /// `Err` value, level 1: it describes itself.
    pub trait ErrSaysItself {
        /// The outcome.
        fn __audited_err_outcome(&self) -> Outcome;
    }
    impl<E: AuditFailure + ?Sized> ErrSaysItself for &&&Probe<'_, E> {
        fn __audited_err_outcome(&self) -> Outcome {
            let mut out = self.0.audit_failure();
            out.status = crate::Status::Failed;
            out
        }
    }
    /// `Err` value, level 2: its `Display`.
    pub trait ErrDisplay {
        /// The outcome.
        fn __audited_err_outcome(&self) -> Outcome;
    }
    impl<E: Display + ?Sized> ErrDisplay for &&Probe<'_, E> {
        fn __audited_err_outcome(&self) -> Outcome {
            Outcome::failed(self.0.to_string())
        }
    }
    /// `Err` value, level 3: its `Debug`.
    pub trait ErrDebug {
        /// The outcome.
        fn __audited_err_outcome(&self) -> Outcome;
    }
    impl<E: Debug + ?Sized> ErrDebug for &Probe<'_, E> {
        fn __audited_err_outcome(&self) -> Outcome {
            Outcome::failed(format!("{:?}", self.0))
        }
    }
    /// `Err` value, level 4: its type's name.
    pub trait ErrOpaque {
        /// The outcome.
        fn __audited_err_outcome(&self) -> Outcome;
    }
    impl<E: ?Sized> ErrOpaque for Probe<'_, E> {
        fn __audited_err_outcome(&self) -> Outcome {
            Outcome::failed(format!("an error of type {}", std::any::type_name::<E>()))
        }
    }

    /// Whole value (a return type not spelled `Result<..>`), level 1: it says itself.
    pub trait ValueSaysItself {
        /// The outcome.
        fn __audited_value_outcome(&self) -> Outcome;
    }
    impl<T: AuditOutcome + ?Sized> ValueSaysItself for &&Probe<'_, T> {
        fn __audited_value_outcome(&self) -> Outcome {
            self.0.audit_outcome()
        }
    }
    /// Whole value, level 2: a `Result` whose error displays.
    pub trait ValueIsResult {
        /// The outcome.
        fn __audited_value_outcome(&self) -> Outcome;
    }
    impl<T, E: Display> ValueIsResult for &Probe<'_, Result<T, E>> {
        fn __audited_value_outcome(&self) -> Outcome {
            match self.0 {
                Ok(_) => Outcome::success(),
                Err(e) => Outcome::failed(e.to_string()),
            }
        }
    }
    /// Whole value, level 3: success.
    pub trait ValueIsSuccess {
        /// The outcome.
        fn __audited_value_outcome(&self) -> Outcome;
    }
    impl<T: ?Sized> ValueIsSuccess for Probe<'_, T> {
        fn __audited_value_outcome(&self) -> Outcome {
            Outcome::success()
        }
    }
}

#[cfg(test)]
// The extra borrows are the point: they select the probe level.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::probe::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn probes_pick_the_most_specific_level() {
        struct Opaque;
        #[derive(Debug)]
        struct OnlyDebug;
        let e: &str = "boom";
        assert_eq!(
            (&&&&Probe(&e)).__audited_err_outcome().error.as_deref(),
            Some("boom")
        );
        assert_eq!(
            (&&&&Probe(&OnlyDebug))
                .__audited_err_outcome()
                .error
                .as_deref(),
            Some("OnlyDebug")
        );
        assert!(
            (&&&&Probe(&Opaque))
                .__audited_err_outcome()
                .error
                .unwrap()
                .contains("Opaque")
        );
        assert!((&&Probe(&42u8)).__audited_ok_outcome().is_success());
        let inner = Outcome::failed("said so");
        assert!(!(&&Probe(&inner)).__audited_ok_outcome().is_success());
        let r: Result<u8, String> = Err("x".into());
        assert_eq!(
            (&&&Probe(&r)).__audited_value_outcome().error.as_deref(),
            Some("x")
        );
        assert!((&&&Probe(&7u8)).__audited_value_outcome().is_success());
    }

    #[test]
    fn changed_lists_only_differing_keys() {
        let before = json!({"lr": 0.1, "bs": 32, "gone": 1});
        let after = json!({"lr": 0.01, "bs": 32, "new": true});
        let changed = changed_keys(before.as_object().unwrap(), after.as_object().unwrap());
        assert_eq!(
            Value::Object(changed),
            json!({
                "lr": {"before": 0.1, "after": 0.01},
                "gone": {"before": 1, "after": null},
                "new": {"before": null, "after": true},
            })
        );
    }

    #[test]
    fn redaction_reaches_any_depth() {
        let mut details =
            json!({"token": "s", "req": {"auth": {"token": "t"}, "list": [{"token": 1}]}})
                .as_object()
                .unwrap()
                .clone();
        crate::pipeline::redact_keys(&mut details, &["token"]);
        assert_eq!(
            Value::Object(details),
            json!({"token": "[REDACTED]", "req": {"auth": {"token": "[REDACTED]"}, "list": [{"token": "[REDACTED]"}]}})
        );
    }

    #[test]
    fn panic_messages() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&7u8), "a non-string panic payload");
    }
}
