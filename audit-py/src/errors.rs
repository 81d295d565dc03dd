//! Runtime errors as the Python exceptions a Python caller expects.
//!
//! I/O failures are `OSError` with the operating system's `errno` (so Python picks the
//! subclass: `PermissionError`, `FileNotFoundError`, ...), an event or a file that breaks a
//! rule is `ValueError`, a value that cannot be serialised `TypeError`. The message is the
//! runtime's whole chain on one line ([`AuditError::full_message`]): it names the file and
//! the cause.

use audit_runtime::AuditError;
use pyo3::PyErr;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};

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
