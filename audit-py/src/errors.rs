//! Runtime errors as the Python exceptions a Python caller expects.
//!
//! I/O failures are `OSError` with the operating system's `errno` (so Python picks the
//! subclass: `PermissionError`, `FileNotFoundError`, ...), an event or a file that breaks a
//! rule is `ValueError`, a value that cannot be serialised `TypeError`. The message is the
//! runtime's whole chain on one line ([`AuditError::full_message`]): it names the file and
//! the cause.

use audit_runtime::{AuditError, AuditUnavailable};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    audited,
    AuditUnavailableError,
    PyRuntimeError,
    "The audit log cannot take events, so a call decorated with `fail_closed=True` was \
     refused before its body ran (`ran` is False), or its body ran but its event could not \
     be written (`ran` is True). Attributes: `ran`, `reason` (why), `log` (the log file's \
     path, or None)."
);

/// The Python exception for a fail-closed refusal, with its `ran`, `reason` and `log`.
pub fn unavailable_err(py: Python<'_>, unavailable: &AuditUnavailable) -> PyErr {
    let err = AuditUnavailableError::new_err(unavailable.to_string());
    let value = err.value(py);
    let log = unavailable
        .log_path()
        .map(|p| p.to_string_lossy().into_owned());
    // Setting attributes on a fresh exception instance cannot fail but for lack of memory;
    // the message says it all then.
    let _ = value.setattr("ran", unavailable.ran());
    let _ = value.setattr("reason", unavailable.reason());
    let _ = value.setattr("log", log);
    err
}

/// The Python exception for `error`.
pub fn to_py_err(error: AuditError) -> PyErr {
    let message = error.full_message();
    match &error {
        AuditError::Io { source, .. } => match source.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, message)),
            None => PyOSError::new_err(message),
        },
        AuditError::NotARegularFile { .. } => PyOSError::new_err(message),
        AuditError::InvalidFormat { .. }
        | AuditError::InvalidEvent(_)
        | AuditError::Malformed { .. } => PyValueError::new_err(message),
        AuditError::Serialize { .. } => PyTypeError::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}
