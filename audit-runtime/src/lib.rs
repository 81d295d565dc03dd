//! # audit-runtime
//!
//! The runtime of **audited**: trustworthy audit logs for ML experiment servers, in the file
//! formats of the WeightsLab audit logger specification.
//!
//! - [`AuditEvent`] has exactly the spec's five fields.
//! - [`AuditLogger`] writes `{root_log_dir}/audit_log.json` (one JSON array, newest first) or
//!   `{root_log_dir}/audit_log.csv` (oldest first), chosen in code or by `AUDIT_LOG_FORMAT`.
//!   Each event costs the same however large the log is, is in the file when `log_event`
//!   returns, and many threads and processes can log to one directory at once.
//! - [`init`] installs a global logger for the experiment; [`log_event`] logs through it.
//! - [`macro@audited`] turns every call of a function or method into an event; the full guide
//!   (actions, details, redaction, outcomes, async and tonic handlers) is the front page of
//!   the `audited` crate.
//! - [`Sink`] is where finished events go: the log file, [`MemorySink`] for tests
//!   ([`AuditLogger::in_memory`]), or extra sinks of your own ([`AuditLoggerBuilder::sink`]).
//! - [`read`] reads both formats, the reference's files included; `auditlog` is built on it.
//! - `ship` (feature `postgres`) ships every event into PostgreSQL, exactly once, the file
//!   being the write-ahead log ([`AuditLoggerBuilder::ship_to_postgres`]), and reads them back;
//!   [`TracingSink`] emits every event as a `tracing` event.
//!
//! Applications depend on the `audited` crate instead, which re-exports everything here with
//! the macros: they write `audited::AuditLogger`, `audited::read::open_events`,
//! `use audited::audited;`. The examples in these pages name the same items
//! `audit_runtime::`.
//!
//! ```
//! use audit_runtime::{AuditLogger, Format, Status, audited};
//!
//! #[audited(action = "pause")]
//! fn pause() -> Result<(), String> {
//!     Ok(())
//! }
//!
//! # let dir = tempfile::tempdir()?;
//! audit_runtime::init(AuditLogger::builder(dir.path()).format(Format::Json).build()?)?;
//! pause()?;
//! audit_runtime::log_event("resume", Status::Success, None, None)?;
//!
//! let summary = audit_runtime::global().unwrap().get_log_summary()?;
//! assert_eq!(summary.total_events, 2);
//! assert_eq!(summary.by_action_type["pause"], 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// The generated code names the runtime `::audit_runtime` when the calling crate is this one
// (its doctests, tests and benches); this makes that path resolve in the library too.
extern crate self as audit_runtime;

/// What the code `#[audited]` and the derives generate calls: re-exports of the attribute's
/// run-time half only. Not a public API: names and signatures change with the macro, which is
/// pinned to this exact runtime version.
#[doc(hidden)]
pub mod __private {
    pub use crate::__audited_require_tonic as require_tonic;
    pub use crate::instrument::{
        AsFlag, AsMessage, Call, DeclaredAction, Scoped, Site, declare, from_flag, probe, refuse,
    };
    pub use crate::logger::global::Gate;
}

/// Expanded for handlers that return tonic types; refuses them unless the `tonic` feature
/// is on, because only then are their outcomes read correctly.
#[cfg(feature = "tonic")]
#[doc(hidden)]
#[macro_export]
macro_rules! __audited_require_tonic {
    () => {};
}

/// Expanded for handlers that return tonic types; refuses them unless the `tonic` feature
/// is on, because only then are their outcomes read correctly.
#[cfg(not(feature = "tonic"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __audited_require_tonic {
    () => {
        ::core::compile_error!(
            "`#[audited]` on a handler returning tonic types needs the `tonic` feature: without \
             it an `Err(Status)` would be logged without its grpc_code and a response saying \
             `success: false` as a success; write `features = [\"tonic\"]` on the `audited` \
             (or `audit-runtime`) dependency"
        );
    };
}

mod error;
mod event;
mod instrument;
/// Tamper evidence: the hash chain, signed digests, and their checks (issue 11).
pub mod integrity;
mod logger;
mod policy;
pub mod read;
#[cfg(feature = "postgres")]
pub mod ship;
mod storage;
#[cfg(feature = "tonic")]
pub mod tonic_layer;
mod tracing_sink;

// Function namespaces, kept as modules because their functions read as `scope::record(..)`
// and `actor::scope(..)` (and the runtime's own messages name `scope::set_action`).
pub use instrument::scope;
pub use logger::actor;
pub use logger::request;
// Spreadsheet-formula neutralising of CSV cells, defined with the CSV log; public for
// `auditlog export` (to be tightened once the CLI writes CSV through this crate).
pub use storage::csv::formula as csv_safety;

pub use audit_macros::{AuditAction, AuditOutcome, audited};
pub use error::{AuditError, InitError, InvalidEvent, InvalidEventKind};
pub use event::{
    Action, AuditAction, AuditEvent, EventStatus, MAX_DETAILS_DEPTH, ParseStatusError,
    ParseTimestampError, RESERVED_DETAILS_KEY, Status, Timestamp, dismantle, to_value,
};
pub use instrument::{AuditFailure, AuditOutcome, Outcome};
pub use logger::{
    AuditLogger, AuditLoggerBuilder, AuditUnavailable, DEFAULT_PRE_INIT_CAPACITY, Durability,
    FORMAT_ENV_VAR, FinishedEvent, Format, LastError, LoggerStats, MemorySink, STATS_FILE_FORMAT,
    STATS_FILE_NAME, STATS_FILE_VERSION, Sink, global, init, is_active, log_details,
    log_details_redacting, log_event, pre_init_dropped, set_pre_init_capacity, shutdown,
    switch_experiment,
};
pub use policy::{
    DEFAULT_MAX_CSV_DETAILS_CHARS, DEFAULT_MAX_EVENT_BYTES, DEFAULT_REDACTED_KEYS,
    HMAC_KEY_FILE_NAME, HMAC_PREFIX, HmacKey, MIN_EVENT_BYTES, Redaction, TRUNCATED_KEY,
};
pub use read::summary::LogSummary;
pub use storage::{CLOCK_SKEW_TOLERANCE_MICROS, Recovery, RecoveryKind};
pub use tracing_sink::TracingSink;
