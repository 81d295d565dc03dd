//! What a logger has done so far, for the application to read ([`crate::AuditLogger::stats`]):
//! events written and failed, bytes, recoveries, and the last error. A failed event is also
//! reported through `tracing` (target `audit`), at most once a second, each report saying
//! how many failures it stands for, so that no failure is silent and a failing disk does not
//! flood the application's log.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// `#[audited]` calls refused before they ran because the log could not take events
    /// (fail-closed auditing; see [`crate::AuditUnavailable`]).
    pub events_refused: u64,
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

impl std::fmt::Display for LoggerStats {
    /// One line, for a health report (the example server prints it at shutdown and on
    /// SIGUSR1):
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, MemorySink, Status};
    /// let logger = AuditLogger::in_memory(MemorySink::new());
    /// logger.log_event("pause", Status::Success, None, None)?;
    /// assert_eq!(
    ///     logger.stats().to_string(),
    ///     "1 events written, 0 failed, 0 refused, 0 sink failures, 0 bytes, 0 recoveries"
    /// );
    /// # Ok::<(), audit_runtime::AuditError>(())
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events written, {} failed, {} refused, {} sink failures, {} bytes, {} recoveries",
            self.events_written,
            self.events_failed,
            self.events_refused,
            self.sink_failures,
            self.bytes_written,
            self.recoveries
        )?;
        if let Some(last) = &self.last_error {
            write!(f, "; last error at {}: {}", last.at, last.message)?;
        }
        Ok(())
    }
}

/// The name of a logger's stats file beside its log ([`crate::AuditLogger::write_stats_file`];
/// what the example server writes and `auditlog stats` reads by default).
pub const STATS_FILE_NAME: &str = "audit_log.stats.json";

/// What a stats file's `"format"` field holds, which tells it from any other JSON file.
pub const STATS_FILE_FORMAT: &str = "audited-logger-stats";

/// The version of the stats file's layout, in its `"version"` field. Fields may be added
/// within a version; none is removed or changes meaning.
pub const STATS_FILE_VERSION: u64 = 1;

impl LoggerStats {
    /// The counters as one JSON object, the `"stats"` member of a stats file: every counter
    /// of this struct under its field's name (numbers), `last_error` as `null` or
    /// `{"at": "<RFC 3339>", "message": "..."}`, and `shipping` (with the `postgres`
    /// feature) as `null` or the shipper's counters.
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, MemorySink, Status};
    /// let logger = AuditLogger::in_memory(MemorySink::new());
    /// logger.log_event("pause", Status::Success, None, None)?;
    /// let json = logger.stats().to_json();
    /// assert_eq!(json["events_written"], 1);
    /// assert_eq!(json["events_refused"], 0);
    /// assert!(json["last_error"].is_null());
    /// # Ok::<(), audit_runtime::AuditError>(())
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (key, value) in [
            ("events_written", self.events_written),
            ("events_failed", self.events_failed),
            ("events_refused", self.events_refused),
            ("sink_failures", self.sink_failures),
            ("bytes_written", self.bytes_written),
            ("recoveries", self.recoveries),
            ("redactions", self.redactions),
            ("truncations", self.truncations),
        ] {
            out.insert(key.to_owned(), value.into());
        }
        out.insert(
            "last_error".to_owned(),
            self.last_error
                .as_ref()
                .map_or(serde_json::Value::Null, LastError::to_json),
        );
        #[cfg(feature = "postgres")]
        out.insert(
            "shipping".to_owned(),
            self.shipping.as_ref().map_or(serde_json::Value::Null, |s| {
                serde_json::json!({
                    "database": s.database,
                    "log_id": s.log_id,
                    "shipped_seq": s.shipped_seq,
                    "events_sent": s.events_sent,
                    "events_inserted": s.events_inserted,
                    "lag_events": s.lag_events,
                    "lag_ms": u64::try_from(s.lag.as_millis()).unwrap_or(u64::MAX),
                    "connected": s.connected,
                    "failures": s.failures,
                    "last_error": s.last_error.as_ref().map(LastError::to_json),
                })
            }),
        );
        serde_json::Value::Object(out)
    }
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

impl LastError {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"at": self.at.to_string(), "message": self.message})
    }
}

/// The live counters behind [`LoggerStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    written: AtomicU64,
    failed: AtomicU64,
    sink_failed: AtomicU64,
    refused: AtomicU64,
    redacted: AtomicU64,
    failure: Mutex<Failures>,
    /// Whether `outage` holds anything: tested by every event, so one relaxed load.
    outage_pending: AtomicBool,
    outage: Mutex<Outage>,
}

/// Events lost since the log last took one: the first event written after them says so
/// (`details._audit.outage`), so a reader of the log sees the hole.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outage {
    /// Events whose write to the log failed.
    pub(crate) failed: u64,
    /// Calls refused before they ran.
    pub(crate) refused: u64,
    /// When the first of them was lost.
    pub(crate) since: Option<Timestamp>,
}

impl Outage {
    /// `details._audit.outage` of the first event after the outage.
    pub(crate) fn to_value(self) -> serde_json::Value {
        let mut note = serde_json::Map::new();
        note.insert("failed".to_owned(), self.failed.into());
        note.insert("refused".to_owned(), self.refused.into());
        if let Some(since) = self.since {
            note.insert("since".to_owned(), since.to_string().into());
        }
        serde_json::Value::Object(note)
    }
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

    /// Counts an event the log itself could not write (not one refused as invalid): part of
    /// the outage the next written event reports.
    pub(crate) fn lost(&self) {
        self.add_to_outage(Outage {
            failed: 1,
            ..Outage::default()
        });
    }

    /// Counts a call refused before it ran, and reports it (rate-limited with failures).
    pub(crate) fn refused(&self, action_type: &str, reason: &str) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.add_to_outage(Outage {
            refused: 1,
            ..Outage::default()
        });
        let mut failures = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failures.last = Some(LastError {
            at: Timestamp::now(),
            message: format!("refused a {action_type} call: {reason}"),
        });
        drop(failures);
        self.warn_rate_limited(format_args!(
            "refused a {action_type} call: the audit log cannot take events ({reason})"
        ));
    }

    /// Whether the log failed its last write (or refused a call) and has not taken an event
    /// since.
    pub(crate) fn in_outage(&self) -> bool {
        self.outage_pending.load(Ordering::Relaxed)
    }

    /// Takes the outage to report in the event about to be written, if there is one.
    pub(crate) fn take_outage(&self) -> Option<Outage> {
        if !self.outage_pending.load(Ordering::Relaxed) {
            return None;
        }
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        let taken = std::mem::take(&mut *outage);
        self.outage_pending.store(false, Ordering::Relaxed);
        (taken != Outage::default()).then_some(taken)
    }

    /// Puts back an outage whose reporting event could not be written either.
    pub(crate) fn add_to_outage(&self, more: Outage) {
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        outage.failed += more.failed;
        outage.refused += more.refused;
        outage.since = match (outage.since, more.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (None, None) => Some(Timestamp::now()),
            (a, b) => a.or(b),
        };
        self.outage_pending.store(true, Ordering::Relaxed);
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
        drop(failures);
        self.warn_rate_limited(format_args!("{what}: {error:?}"));
    }

    /// One warning a second at most, each saying how many it stands for.
    fn warn_rate_limited(&self, message: std::fmt::Arguments<'_>) {
        let mut failures = self.failure.lock().unwrap_or_else(|p| p.into_inner());
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
            tracing::warn!(target: "audit", "{message}");
        } else {
            tracing::warn!(
                target: "audit",
                "{message} ({before} more failures since the last warning)"
            );
        }
    }

    pub(crate) fn snapshot(&self, bytes_written: u64, recoveries: u64) -> LoggerStats {
        LoggerStats {
            events_written: self.written.load(Ordering::Relaxed),
            events_failed: self.failed.load(Ordering::Relaxed),
            sink_failures: self.sink_failed.load(Ordering::Relaxed),
            events_refused: self.refused.load(Ordering::Relaxed),
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
