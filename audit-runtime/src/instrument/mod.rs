//! The run-time half of `#[audited]`: call sites, per-call state, event assembly, outcome
//! probing, the scope API and the changed keys of `capture`. The generated code reaches it
//! through `__private` (re-exports only); what an event holds when it is finished (actor,
//! redaction, checks) is the logger's pipeline's to decide, for every entry point alike.
//!
//! This module must never panic into the user's function, nor change its result except as
//! fail-closed auditing does (a refused call, or an unrecorded one, returns
//! `AuditUnavailable` in the function's error type; see `refuse`): otherwise a logging
//! failure is counted and reported through `tracing` by the logger, and swallowed.

mod assemble;
mod call;
mod diff;
mod outcome;
pub mod probe;
pub mod refuse;
pub mod scope;
mod site;

pub use call::{Call, Scoped};
pub use outcome::{AsFlag, AsMessage, AuditFailure, AuditOutcome, Outcome, from_flag};
pub use site::{DeclaredAction, Site, declare};
