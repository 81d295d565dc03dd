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
//! - [`macro@audited`] turns every call of a function or method into an event; its page holds
//!   the full guide (actions, details, redaction, outcomes, async and tonic handlers).
//! - [`Sink`] is where finished events go: the log file, [`MemorySink`] for tests
//!   ([`AuditLogger::in_memory`]), or extra sinks of your own ([`AuditLoggerBuilder::sink`]).
//! - [`read`] reads both formats, the reference's files included; `auditlog` is built on it.

/// What the code `#[audited]` generates calls: re-exports of [`instrument`]'s items only.
/// Not a public API: names and signatures change with the macro, which is pinned to this
/// exact runtime version.
#[doc(hidden)]
pub mod __private {
    pub use crate::instrument::*;
}
pub mod action;
pub mod actor;
pub mod config;
pub mod csv_safety;
mod encode;
mod error;
pub mod event;
pub mod finite;
mod global;
mod instrument;
mod logger;
pub mod outcome;
mod pipeline;
pub mod read;
pub mod scope;
mod sink;
mod stats;
mod storage;
pub mod timestamp;
#[cfg(feature = "tonic")]
pub mod tonic_layer;

pub use action::{Action, AuditAction};
pub use audit_macros::{AuditAction, AuditOutcome, audited};
pub use config::{Durability, Format};
pub use encode::RESERVED_DETAILS_KEY;
pub use error::{AuditError, InitError};
pub use event::{AuditEvent, EventStatus, MAX_DETAILS_DEPTH, Status};
pub use global::{
    DEFAULT_PRE_INIT_CAPACITY, global, init, is_active, log_details, log_event, pre_init_dropped,
    set_pre_init_capacity, shutdown, switch_experiment,
};
pub use logger::{AuditLogger, AuditLoggerBuilder};
pub use outcome::{AuditFailure, AuditOutcome, Outcome};
pub use read::summary::LogSummary;
pub use sink::{FinishedEvent, MemorySink, Sink};
pub use stats::{LastError, LoggerStats};
pub use storage::log_file::CLOCK_SKEW_TOLERANCE_MICROS;
pub use storage::recovery::{Recovery, RecoveryKind};
pub use timestamp::Timestamp;
