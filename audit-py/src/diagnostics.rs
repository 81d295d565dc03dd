//! The runtime's reports (target `audit`: a damaged log salvaged, a failed event, a clock
//! that jumped) delivered to Python's `logging`, logger `audited`, where a Python
//! application already looks.
//!
//! The runtime reports through `tracing`, sometimes while it holds the log's lock and
//! sometimes from its background thread. Calling into Python there would need the GIL,
//! which a thread waiting for that lock may hold: a deadlock. So a report is queued, and
//! every entry point of the module hands the queue to `logging` when it returns to Python
//! with the GIL held. A report made on a background thread is delivered at the next call.
//! At most [`CAPACITY`] reports wait; beyond that they are counted and the count delivered.
//!
//! For `python -m audited` (the command line), reports go straight to stderr instead, as
//! `auditlog` prints them.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// The most reports kept until the next call delivers them.
pub const CAPACITY: usize = 256;

static PENDING: Mutex<VecDeque<(Level, String)>> = Mutex::new(VecDeque::new());
/// Set when [`PENDING`] may hold something: the one load every entry point pays.
static HAS_PENDING: AtomicBool = AtomicBool::new(false);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Makes the forwarder the process's `tracing` subscriber for this module's copy of the
/// runtime (each extension module links its own). Idempotent.
pub fn install() {
    let _ = tracing::subscriber::set_global_default(Forwarder);
}

/// From now on, reports go to stderr directly (the command line).
pub fn send_to_stderr() {
    TO_STDERR.store(true, Ordering::Release);
}

/// Queues a report of this module's own, delivered like the runtime's.
pub fn report(level: Level, message: String) {
    if TO_STDERR.load(Ordering::Acquire) {
        eprintln!("auditlog: {message}");
        return;
    }
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    if pending.len() >= CAPACITY {
        pending.pop_front();
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    pending.push_back((level, message));
    HAS_PENDING.store(true, Ordering::Release);
}

/// Hands every queued report to `logging.getLogger("audited")`. Called with the GIL held,
/// as each entry point returns.
pub fn deliver(py: Python<'_>) {
    if !HAS_PENDING.load(Ordering::Acquire) {
        return;
    }
    let reports: Vec<(Level, String)> = {
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        HAS_PENDING.store(false, Ordering::Release);
        pending.drain(..).collect()
    };
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    // Delivery must not fail the call that happens to deliver: a broken logging setup
    // loses the report, as it would for any other Python library.
    let _ = (|| -> PyResult<()> {
        let logger = python_logger(py)?;
        if dropped > 0 {
            logger.call_method1(
                "warning",
                (
                    "%d audit log reports were dropped (more than %d waited for delivery)",
                    dropped,
                    CAPACITY,
                ),
            )?;
        }
        for (level, message) in reports {
            logger.call_method1("log", (logging_level(level), "%s", message))?;
        }
        Ok(())
    })();
}

/// The entry point's result, after delivering what it reported.
pub fn delivered<T>(py: Python<'_>, result: PyResult<T>) -> PyResult<T> {
    deliver(py);
    result
}

fn python_logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LOGGER
        .get_or_try_init(py, || {
            py.import("logging")?
                .call_method1("getLogger", ("audited",))
                .map(Bound::unbind)
        })
        .map(|logger| logger.bind(py))
}

fn logging_level(level: Level) -> u32 {
    match level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

/// The `tracing` subscriber: the runtime's events of INFO and above, formatted as one line.
struct Forwarder;

impl Subscriber for Forwarder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= &Level::INFO && metadata.target().starts_with("audit")
    }

    // The runtime opens no spans; these keep the trait's contract for any that appear.
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line::default();
        event.record(&mut line);
        report(*event.metadata().level(), line.text);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The message, then any other fields as ` name=value`.
#[derive(Default)]
struct Line {
    text: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.text);
            let _ = write!(self.text, "{value:?}{rest}");
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.insert_str(0, value);
        } else {
            let _ = write!(self.text, " {}={value}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_the_message_then_the_fields() {
        tracing::subscriber::with_default(Forwarder, || {
            tracing::warn!(target: "audit", count = 3, "salvaged {}", "audit_log.json");
            tracing::warn!(target: "elsewhere", "not ours");
        });
        let pending: Vec<_> = PENDING.lock().unwrap().drain(..).collect();
        assert_eq!(
            pending,
            [(Level::WARN, "salvaged audit_log.json count=3".to_owned())]
        );
    }
}
