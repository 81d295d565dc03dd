//! The global logger: installed once per experiment with [`init`], used by [`log_event`] and
//! by the code `#[audited]` generates.
//!
//! Before `init`, events are kept in a bounded buffer and written when a logger arrives, so
//! the actions of a server's first moments are not lost; any beyond the bound are counted and
//! reported. Whether anything would be recorded at all is one relaxed atomic load
//! ([`is_active`]), so disabled auditing costs next to nothing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use serde_json::{Map, Value};

use super::pipeline::Draft;
use super::sink::FinishedEvent;
use crate::event::details_object;
use crate::{AuditError, AuditLogger, InitError, Status, Timestamp};

/// How many events are kept before `init` by default.
pub const DEFAULT_PRE_INIT_CAPACITY: usize = 1024;

static GLOBAL: RwLock<Option<AuditLogger>> = RwLock::new(None);
/// True while events would go somewhere: an enabled global logger, or (before any logger)
/// a pre-init buffer with room configured.
static ACTIVE: AtomicBool = AtomicBool::new(true);
static PRE_INIT_CAPACITY: AtomicUsize = AtomicUsize::new(DEFAULT_PRE_INIT_CAPACITY);
static PRE_INIT_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Whether the first buffered event was reported (once per process: after that the counter
/// tells).
static PRE_INIT_ANNOUNCED: AtomicBool = AtomicBool::new(false);
static PRE_INIT: Mutex<VecDeque<Buffered>> = Mutex::new(VecDeque::new());

/// A call site's copy of [`is_active`], in the site's own `static` (one per `#[audited]`
/// function without `logger = ..`).
///
/// The generated code tests it on every call instead of the shared flag: a `static` of the
/// caller's own crate is read at a fixed address, where this crate's flag is first looked up
/// (through the GOT of a position-independent executable), which is a load more on every
/// call of every audited function. A gate is "unseen" until its site's first recorded-looking
/// call registers it; from then on every change of the shared flag is copied to it. Only
/// "off" skips recording: "on" and "unseen" take the out-of-line path, which checks the
/// shared flag itself, so a gate can make a call look at the flag needlessly, never miss it.
#[derive(Debug)]
pub struct Gate(AtomicU8);

const GATE_OFF: u8 = 0;
const GATE_ON: u8 = 1;
const GATE_UNSEEN: u8 = 2;

/// Every registered gate, so that a change of [`ACTIVE`] reaches each of them.
static GATES: Mutex<Vec<&'static Gate>> = Mutex::new(Vec::new());

impl Gate {
    /// A gate not yet registered (what the generated `static` starts with).
    #[allow(clippy::new_without_default)] // built in `static`s, where only a `const fn` will do
    pub const fn new() -> Gate {
        Gate(AtomicU8::new(GATE_UNSEEN))
    }

    /// Whether this site last saw auditing off. A relaxed load, as [`is_active`] is: a change
    /// becomes visible to other threads promptly, with no ordering promised.
    #[inline(always)]
    pub(crate) fn is_off(&self) -> bool {
        self.0.load(Ordering::Relaxed) == GATE_OFF
    }

    /// [`is_active`], registering the gate on its first use so that it follows the flag.
    pub(crate) fn open(&'static self) -> bool {
        if self.0.load(Ordering::Relaxed) == GATE_UNSEEN {
            let mut gates = GATES.lock().unwrap_or_else(|p| p.into_inner());
            if self.0.load(Ordering::Relaxed) == GATE_UNSEEN {
                gates.push(self);
            }
            // Under the lock, so that a change of the flag refreshing the gates meanwhile
            // cannot be overwritten with the value read before it.
            self.0.store(gate_state(), Ordering::Relaxed);
        }
        is_active()
    }
}

fn gate_state() -> u8 {
    if ACTIVE.load(Ordering::Acquire) {
        GATE_ON
    } else {
        GATE_OFF
    }
}

/// Sets [`ACTIVE`] and copies it to every registered gate.
fn set_active(active: bool) {
    ACTIVE.store(active, Ordering::Release);
    // The value copied is the flag's when the lock is held, not `active`: of two changes
    // racing here, the one that takes the lock last copies the newer value.
    let gates = GATES.lock().unwrap_or_else(|p| p.into_inner());
    let state = gate_state();
    for gate in gates.iter() {
        gate.0.store(state, Ordering::Relaxed);
    }
}

/// A finished event waiting for a logger: written as it is when one arrives, not finished
/// again (the actor then current is not the event's).
struct Buffered {
    at: Timestamp,
    action_type: String,
    status: Status,
    details: Map<String, Value>,
    error: Option<String>,
}

/// Installs `logger` as the global logger and writes the events logged before it.
///
/// A second call fails with [`InitError::AlreadyInitialized`]; to move to another
/// experiment's logger on purpose, use [`switch_experiment`].
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use audit_runtime::{AuditLogger, Status};
/// audit_runtime::init(AuditLogger::new(dir.path(), "exp1")?)?;
/// audit_runtime::log_event("pause", Status::Success, None, None)?;
/// assert!(audit_runtime::init(AuditLogger::new(dir.path(), "exp1")?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn init(logger: AuditLogger) -> Result<(), InitError> {
    {
        let mut global = write_global();
        if let Some(current) = global.as_ref() {
            return Err(InitError::AlreadyInitialized {
                current: current.experiment_name().to_owned(),
            });
        }
        set_active(logger.is_enabled());
        *global = Some(logger.clone());
    }
    drain_pre_init(&logger)?;
    Ok(())
}

/// Replaces the global logger with `logger` (a new experiment), making everything the old
/// one wrote durable first. Returns the old logger, if there was one.
///
/// ```
/// use audit_runtime::{AuditLogger, Format, Status};
/// let root = tempfile::tempdir()?;
/// let open = |name: &str| AuditLogger::builder(root.path().join(name)).format(Format::Json).build();
///
/// audit_runtime::init(open("exp1")?)?;
/// audit_runtime::log_event("evaluation_start", Status::Success, None, None)?;
///
/// let old = audit_runtime::switch_experiment(open("exp2")?)?.expect("exp1 was installed");
/// audit_runtime::log_event("evaluation_start", Status::Success, None, None)?;
/// audit_runtime::log_event("pause", Status::Success, None, None)?;
///
/// assert_eq!(old.experiment_name(), "exp1");
/// assert_eq!(old.get_log_summary()?.total_events, 1);
/// assert_eq!(audit_runtime::global().unwrap().get_log_summary()?.total_events, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn switch_experiment(logger: AuditLogger) -> Result<Option<AuditLogger>, AuditError> {
    let old = {
        let mut global = write_global();
        set_active(logger.is_enabled());
        global.replace(logger.clone())
    };
    if let Some(old) = &old {
        old.flush()?;
    }
    drain_pre_init(&logger)?;
    Ok(old)
}

/// Removes the global logger after making its events durable, and returns it. Events logged
/// afterwards go to the pre-init buffer again.
///
/// ```
/// use audit_runtime::{AuditLogger, Format, Status};
/// let dir = tempfile::tempdir()?;
/// audit_runtime::init(AuditLogger::builder(dir.path()).format(Format::Json).build()?)?;
/// audit_runtime::log_event("evaluation_start", Status::Success, None, None)?;
///
/// // At exit (or before handing the log to another program):
/// let logger = audit_runtime::shutdown()?.expect("a logger was installed");
/// assert!(audit_runtime::global().is_none());
/// assert_eq!(logger.get_log_summary()?.total_events, 1);
///
/// // Now events wait for the next `init` again.
/// audit_runtime::log_event("pause", Status::Success, None, None)?;
/// assert_eq!(logger.get_log_summary()?.total_events, 1);
/// audit_runtime::init(logger.clone())?;
/// assert_eq!(logger.get_log_summary()?.total_events, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn shutdown() -> Result<Option<AuditLogger>, AuditError> {
    let old = {
        let mut global = write_global();
        set_active(PRE_INIT_CAPACITY.load(Ordering::Acquire) > 0);
        global.take()
    };
    if let Some(old) = &old {
        old.flush()?;
    }
    Ok(old)
}

/// The global logger, if [`init`] has installed one.
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, Status};
/// assert!(audit_runtime::global().is_none());
///
/// audit_runtime::init(AuditLogger::in_memory(MemorySink::new()))?;
/// audit_runtime::log_event("pause", Status::Success, None, None)?;
///
/// // A handle on the same logger (clones share it), e.g. for its counters.
/// let logger = audit_runtime::global().expect("init installed one");
/// assert_eq!(logger.stats().events_written, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn global() -> Option<AuditLogger> {
    GLOBAL.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Whether an event logged now would be recorded (by the global logger, or in the pre-init
/// buffer). One atomic load: generated code checks it before evaluating anything.
///
/// Check it yourself before building details that only the audit log needs:
///
/// ```
/// use audit_runtime::{AuditLogger, Format, MemorySink, Status};
/// fn log_resume(weights: &[f32]) -> Result<(), audit_runtime::AuditError> {
///     if audit_runtime::is_active() {
///         let norm: f32 = weights.iter().map(|w| w * w).sum::<f32>().sqrt();
///         audit_runtime::log_event("resume", Status::Success, serde_json::json!({"norm": norm}), None)?;
///     }
///     Ok(())
/// }
///
/// // Before `init` events are kept for the logger, so logging is active.
/// assert!(audit_runtime::is_active());
///
/// // Auditing configured off (`AUDIT_LOG_FORMAT=none`):
/// let dir = tempfile::tempdir()?;
/// audit_runtime::init(AuditLogger::builder(dir.path()).format(Format::None).build()?)?;
/// assert!(!audit_runtime::is_active());
/// log_resume(&[3.0, 4.0])?; // computes nothing
///
/// let sink = MemorySink::new();
/// audit_runtime::switch_experiment(AuditLogger::in_memory(sink.clone()))?;
/// assert!(audit_runtime::is_active());
/// log_resume(&[3.0, 4.0])?;
/// assert_eq!(sink.events()[0].details["norm"], 5.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Logs through the global logger; before [`init`], keeps the event for it.
///
/// The signature is [`AuditLogger::log_event`]'s.
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, Status};
/// use serde_json::json;
///
/// // Logged before there is a logger: kept for it.
/// audit_runtime::log_event("evaluation_start", Status::Success, json!({"epochs": 10}), None)?;
///
/// let sink = MemorySink::new();
/// audit_runtime::init(AuditLogger::in_memory(sink.clone()))?;
/// audit_runtime::log_event("pause", Status::Success, None, None)?;
///
/// let actions: Vec<String> = sink.events().into_iter().map(|e| e.action_type).collect();
/// assert_eq!(actions, ["evaluation_start", "pause"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn log_event(
    action_type: &str,
    status: Status,
    details: impl Into<Option<Value>>,
    error: Option<&str>,
) -> Result<(), AuditError> {
    if !is_active() {
        // The caller handed the value over; a deep one must not overflow on its drop.
        if let Some(details) = details.into() {
            crate::event::dismantle(details);
        }
        return Ok(());
    }
    log_details(action_type, status, details_object(details.into()), error).map(drop)
}

/// Logs a ready details object through the global logger (or into the pre-init buffer) and
/// returns the timestamp it was written with, if it was written now.
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, Status};
/// let mut details = serde_json::Map::new();
/// details.insert("checkpoint_id".into(), "ckpt_001".into());
///
/// // Before `init` the event is kept, not written: no timestamp yet.
/// let at = audit_runtime::log_details("checkpoint_save", Status::Success, details.clone(), None)?;
/// assert_eq!(at, None);
///
/// let sink = MemorySink::new();
/// audit_runtime::init(AuditLogger::in_memory(sink.clone()))?;
/// let at = audit_runtime::log_details("checkpoint_restore", Status::Success, details, None)?;
/// let events = sink.events();
/// assert_eq!(events[0].action_type, "checkpoint_save"); // written by `init`
/// assert_eq!(at, Some(events[1].timestamp));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn log_details(
    action_type: &str,
    status: Status,
    details: Map<String, Value>,
    error: Option<&str>,
) -> Result<Option<Timestamp>, AuditError> {
    submit(Draft::new(action_type, status, details, error))
}

/// [`log_details`] with the redaction of `#[audited(redact(..), redact(.., hmac))]`, as
/// [`AuditLogger::log_details_redacting`] does. An event kept before `init` has no key to
/// hash with yet: its `hash` keys are written as `"[REDACTED]"`, as the attribute's are.
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, Status};
/// let details = serde_json::json!({"note": "private"}).as_object().cloned().unwrap_or_default();
/// audit_runtime::log_details_redacting("hp_change", Status::Success, details, None, &["note"], &[])?;
/// let sink = MemorySink::new();
/// audit_runtime::init(AuditLogger::in_memory(sink.clone()))?;
/// assert_eq!(sink.events()[0].details["note"], "[REDACTED]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn log_details_redacting(
    action_type: &str,
    status: Status,
    details: Map<String, Value>,
    error: Option<&str>,
    redact: &[&str],
    hash: &[&str],
) -> Result<Option<Timestamp>, AuditError> {
    submit(Draft {
        redact,
        hash,
        ..Draft::new(action_type, status, details, error)
    })
}

/// Logs `draft` through the global logger, or finishes it and keeps it for `init`.
pub(crate) fn submit(draft: Draft<'_>) -> Result<Option<Timestamp>, AuditError> {
    if let Some(logger) = global() {
        return logger.submit(draft);
    }
    // Finished now, not when the buffer is drained: the caller must learn that its event
    // cannot be logged, init must not fail on it later, and the actor is this call's.
    let (event, at) = draft.finish()?;
    let mut buffer = PRE_INIT.lock().unwrap_or_else(|p| p.into_inner());
    // A logger may have been installed while this thread built the event.
    if let Some(logger) = global() {
        drop(buffer);
        return logger.write_finished(&event, at);
    }
    let event = Buffered {
        at,
        action_type: event.action_type.to_owned(),
        status: event.status,
        details: event.details,
        error: event.error.map(str::to_owned),
    };
    let capacity = PRE_INIT_CAPACITY.load(Ordering::Acquire);
    if buffer.is_empty() && capacity > 0 && !PRE_INIT_ANNOUNCED.swap(true, Ordering::AcqRel) {
        // Forgetting `init` would otherwise be silent: the events wait in memory and are
        // gone at exit.
        tracing::warn!(
            target: "audit",
            "no audit logger is installed yet: the {} event and up to {capacity} more are kept \
             in memory until audit_runtime::init, and lost if the process exits before it \
             (audit_runtime::pre_init_dropped() counts those that did not fit)",
            event.action_type
        );
    }
    if buffer.len() < capacity {
        buffer.push_back(event);
    } else {
        PRE_INIT_DROPPED.fetch_add(1, Ordering::AcqRel);
    }
    Ok(None)
}

/// Sets how many events are kept before [`init`] (default [`DEFAULT_PRE_INIT_CAPACITY`]);
/// 0 turns the buffer off, so that without a logger nothing is recorded or evaluated.
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, Status};
/// // A tool that records nothing unless it installs a logger:
/// audit_runtime::set_pre_init_capacity(0);
/// assert!(!audit_runtime::is_active());
/// audit_runtime::log_event("pause", Status::Success, None, None)?; // not kept
///
/// let sink = MemorySink::new();
/// audit_runtime::init(AuditLogger::in_memory(sink.clone()))?;
/// audit_runtime::log_event("resume", Status::Success, None, None)?;
/// assert_eq!(sink.events().len(), 1);
/// assert_eq!(sink.events()[0].action_type, "resume");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_pre_init_capacity(capacity: usize) {
    PRE_INIT_CAPACITY.store(capacity, Ordering::Release);
    let global = GLOBAL.read().unwrap_or_else(|p| p.into_inner());
    if global.is_none() {
        set_active(capacity > 0);
        let mut buffer = PRE_INIT.lock().unwrap_or_else(|p| p.into_inner());
        while buffer.len() > capacity {
            buffer.pop_back();
            PRE_INIT_DROPPED.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// How many events logged before [`init`] did not fit in the buffer and were lost: the
/// buffer keeps the first events, and counts the ones after it is full. [`init`] and
/// [`switch_experiment`] report the count through `tracing` (target `audit`, WARN) when
/// they write the buffer, and start it again from 0.
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, Status};
/// audit_runtime::set_pre_init_capacity(2);
/// for action in ["evaluation_start", "pause", "resume"] {
///     audit_runtime::log_event(action, Status::Success, None, None)?;
/// }
/// assert_eq!(audit_runtime::pre_init_dropped(), 1);
///
/// let sink = MemorySink::new();
/// audit_runtime::init(AuditLogger::in_memory(sink.clone()))?;
/// let actions: Vec<String> = sink.events().into_iter().map(|e| e.action_type).collect();
/// assert_eq!(actions, ["evaluation_start", "pause"]);
/// assert_eq!(audit_runtime::pre_init_dropped(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pre_init_dropped() -> u64 {
    PRE_INIT_DROPPED.load(Ordering::Acquire)
}

fn write_global() -> std::sync::RwLockWriteGuard<'static, Option<AuditLogger>> {
    GLOBAL.write().unwrap_or_else(|p| p.into_inner())
}

fn drain_pre_init(logger: &AuditLogger) -> Result<(), AuditError> {
    let pending: Vec<Buffered> = PRE_INIT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
        .collect();
    let dropped = PRE_INIT_DROPPED.swap(0, Ordering::AcqRel);
    if dropped > 0 {
        tracing::warn!(
            target: "audit",
            "{dropped} events logged before audit_runtime::init did not fit in the \
             pre-init buffer and were lost (see audit_runtime::set_pre_init_capacity)"
        );
    }
    for event in pending {
        let finished = FinishedEvent {
            action_type: &event.action_type,
            status: event.status,
            details: event.details,
            error: event.error.as_deref(),
        };
        logger.write_finished(&finished, event.at)?;
    }
    Ok(())
}
