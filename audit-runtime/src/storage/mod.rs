//! The log files on disk, one home per format: what writes a format, what recovers it and
//! how its layout is read live side by side (as storage engines keep writer, reader and
//! recovery of one on-disk structure together).
//!
//! - [`json`]: `audit_log.json`, newest first, with the free space (the gap) after `[`; its
//!   layout protocol (event head, rewrite and torn-write marks, finding the first event,
//!   walking back over lines other writers added) lives once, in [`json::layout`], and the
//!   public reading API (`crate::read`) and `auditlog` use it from there.
//! - [`csv`]: `audit_log.csv`, appended, with the lock file's record of the last complete row.
//! - Shared by both: [`log_file`] (the open log: lock, state, clock, recoveries, group
//!   commit), [`fs`] (opening without following links, the lock file, atomic replacement,
//!   copies kept aside), [`commit`] (group commit), [`recovery`] (what was done to a log),
//!   [`watch`] (noticing that the log's or the lock's name now means another file),
//!   [`preflight`] (whether a fail-closed call may run).

pub(crate) mod commit;
pub(crate) mod csv;
pub(crate) mod encode;
pub(crate) mod fs;
pub(crate) mod json;
pub(crate) mod log_file;
pub(crate) mod preflight;
pub(crate) mod recovery;
pub(crate) mod watch;

pub use log_file::CLOCK_SKEW_TOLERANCE_MICROS;
pub use recovery::{Recovery, RecoveryKind};
