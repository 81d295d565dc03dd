//! # audit-py
//!
//! The native half of the `audited` Python package (`audited._native`): the spec's
//! `AuditLogger` backed by [`audit_runtime::AuditLogger`], the global logger behind the
//! Python `@audited` decorator, the built-in action catalog, the log readers, and the
//! `auditlog` command line. The Python half (`python/audited/`) holds the spec's
//! constructor, the `AuditEvent` dataclass and the decorator; it never reads or writes a log
//! file itself: every byte goes through the Rust runtime.
//!
//! What each module owns:
//! - [`convert`]: Python values to JSON values (the rules of Python's `json` module, with
//!   non-finite floats kept as the runtime keeps them) and back.
//! - [`logger`]: the `Logger` class the Python `AuditLogger` derives from.
//! - [`global`]: `init`, `switch_experiment`, `shutdown`, and the event of one decorated call.
//! - [`catalog`]: the built-in action names (from `audit_runtime::Action`, the attribute's
//!   catalog) and the "did you mean" search.
//! - [`diagnostics`]: the runtime's `tracing` reports, delivered to Python's `logging`.
//! - [`errors`]: runtime errors as Python exceptions.
//! - [`cli`]: `python -m audited`, which is `auditlog`.
//!
//! Every entry point that may block on the file (open, log, summarise, read, flush) releases
//! the GIL while it does, so other Python threads run meanwhile.

pub mod catalog;
pub mod cli;
pub mod convert;
pub mod diagnostics;
pub mod errors;
pub mod global;
pub mod logger;

use pyo3::prelude::*;

/// The extension module `audited._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    diagnostics::install();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // For the benchmark, which must not pass off a debug build's figures.
    m.add("DEBUG_BUILD", cfg!(debug_assertions))?;
    m.add("MAX_DETAILS_DEPTH", audit_runtime::MAX_DETAILS_DEPTH)?;
    m.add("BUILTIN_ACTIONS", catalog::builtin_names())?;
    m.add_class::<logger::Logger>()?;
    m.add_class::<global::Snapshot>()?;
    m.add_function(wrap_pyfunction!(catalog::suggest_action, m)?)?;
    m.add_function(wrap_pyfunction!(global::init, m)?)?;
    m.add_function(wrap_pyfunction!(global::switch_experiment, m)?)?;
    m.add_function(wrap_pyfunction!(global::shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(global::is_active, m)?)?;
    m.add_function(wrap_pyfunction!(global::snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(global::log_call, m)?)?;
    m.add_function(wrap_pyfunction!(global::admit, m)?)?;
    m.add(
        "AuditUnavailableError",
        m.py().get_type::<errors::AuditUnavailableError>(),
    )?;
    m.add_function(wrap_pyfunction!(logger::read_events, m)?)?;
    m.add_function(wrap_pyfunction!(logger::after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(logger::bench_rust_log_event, m)?)?;
    m.add_function(wrap_pyfunction!(cli::run_cli, m)?)?;
    Ok(())
}
