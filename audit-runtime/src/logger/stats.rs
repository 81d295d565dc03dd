//! What a logger has done so far, for the application to read ([`crate::AuditLogger::stats`]):
//! events written and failed, bytes, recoveries, and the last error. A failed event is also
//! reported through `tracing` (target `audit`), at most once a second, each report saying
//! how many failures it stands for, so that no failure is silent and a failing disk does not
//! flood the application's log.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{AuditError, Timestamp};

/// The least time between two warnings about failed events.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// A snapshot of a logger's counters; see [`crate::AuditLogger::stats`].
///
/// ```
/// use audit_runtime::{AuditLogger, Format, Status};
/// let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
/// logger.log_event("hp_change", Status::Success, None, None)?;
/// assert!(logger.log_event(" ", Status::Success, None, None).is_err());
/// let stats = logger.stats();
/// assert_eq!((stats.events_written, stats.events_failed), (1, 1));
/// assert!(stats.last_error.unwrap().message.contains("action type is empty"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggerStats {
    /// Events written to the log by this process since the logger was opened.
    pub events_written: u64,
    /// Events that could not be logged (invalid, or the write failed).
    pub events_failed: u64,
    /// Writes (and flushes) of extra sinks that failed, for events that are in the record of
    /// truth all the same; see [`crate::AuditLoggerBuilder::sink`].
    pub sink_failures: u64,
    /// Bytes of events written.
    pub bytes_written: u64,
    /// Recoveries done ([`crate::AuditLogger::recoveries`]): logs salvaged or relaid, torn
    /// writes cleared.
    pub recoveries: u64,
    /// The latest failure, of an event or of an extra sink.
    pub last_error: Option<LastError>,
    /// Events in which at least one value was redacted or hashed
    /// ([`crate::Redaction`], `#[audited(redact(..))]`).
    pub redactions: u64,
    /// Events written cut down to the size cap
    /// ([`crate::AuditLoggerBuilder::max_event_bytes`]), counted by the log file.
    pub truncations: u64,
    /// The PostgreSQL shipper's progress and lag, when the logger ships
    /// ([`crate::AuditLoggerBuilder::ship_to_postgres`]); its failures are counted there.
    #[cfg(feature = "postgres")]
    pub shipping: Option<crate::ship::ShipStats>,
}

/// The latest failure a logger met.
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, Status, Timestamp};
/// let logger = AuditLogger::in_memory(MemorySink::new());
/// let before = Timestamp::now();
/// assert!(logger.log_event("", Status::Success, None, None).is_err());
///
/// let last = logger.stats().last_error.expect("the failure is remembered");
/// assert_eq!(last.message, "invalid event: the action type is empty");
/// assert!(last.at >= before);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastError {
    /// When it happened.
    pub at: Timestamp,
    /// What went wrong (the error's message).
    pub message: String,
}

/// The live counters behind [`LoggerStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    written: AtomicU64,
    failed: AtomicU64,
    sink_failed: AtomicU64,
    redacted: AtomicU64,
    failure: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    last: Option<LastError>,
    warned_at: Option<Instant>,
    /// Failures since the last warning that were not reported one by one.
    unreported: u64,
}

impl Counters {
    pub(crate) fn written(&self) {
        self.written.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an event in which values were redacted.
    pub(crate) fn redacted(&self) {
        self.redacted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed event and reports it (rate-limited).
    pub(crate) fn failed(&self, action_type: &str, error: &AuditError) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.report(
            format_args!("could not record a {action_type} event"),
            error,
        );
    }

    /// Counts an extra sink's failure (`what`: the event's action, or `flush`) and reports
    /// it, rate-limited together with failed events: a broken sink fails every event.
    pub(crate) fn sink_failed(&self, what: &str, error: &AuditError) {
        self.sink_failed.fetch_add(1, Ordering::Relaxed);
        self.report(
            format_args!("an extra sink failed at {what} (the log file has the event)"),
            error,
        );
    }

    fn report(&self, what: std::fmt::Arguments<'_>, error: &AuditError) {
        let mut failures = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failures.last = Some(LastError {
            at: Timestamp::now(),
            message: error.full_message(),
        });
        let due = failures
            .warned_at
            .is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if !due {
            failures.unreported += 1;
            return;
        }
        let before = std::mem::take(&mut failures.unreported);
        failures.warned_at = Some(Instant::now());
        drop(failures);
        if before == 0 {
            tracing::warn!(target: "audit", "{what}: {error:?}");
        } else {
            tracing::warn!(
                target: "audit",
                "{what}: {error:?} ({before} more failures since the last warning)"
            );
        }
    }

    pub(crate) fn snapshot(&self, bytes_written: u64, recoveries: u64) -> LoggerStats {
        LoggerStats {
            events_written: self.written.load(Ordering::Relaxed),
            events_failed: self.failed.load(Ordering::Relaxed),
            sink_failures: self.sink_failed.load(Ordering::Relaxed),
            bytes_written,
            recoveries,
            last_error: self
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .last
                .clone(),
            redactions: self.redacted.load(Ordering::Relaxed),
            truncations: 0,
            #[cfg(feature = "postgres")]
            shipping: None,
        }
    }
}
