//! The one error type of the tool: a message for stderr and the exit code that goes with it.

use std::fmt;

use audit_runtime::AuditError;

/// Exit code for problems found in a log (`verify`) or no match with `--fail-on-empty`.
pub const PROBLEMS: u8 = 1;
/// Exit code for usage and I/O errors, and logs that cannot be read.
pub const FAILURE: u8 = 2;

/// What went wrong, and the exit code to leave with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// 1 or 2.
    pub code: u8,
    /// Names the file and the cause.
    pub message: String,
}

impl CliError {
    /// A usage or I/O error (exit code 2).
    pub fn failure(message: impl Into<String>) -> Self {
        CliError {
            code: FAILURE,
            message: message.into(),
        }
    }

    /// Problems found (exit code 1).
    pub fn problems(message: impl Into<String>) -> Self {
        CliError {
            code: PROBLEMS,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<AuditError> for CliError {
    fn from(err: AuditError) -> Self {
        // The cause is the error's source, not part of its message: print both.
        CliError::failure(err.full_message())
    }
}
