//! The crate's error types. Every message names the file involved and the cause, so a
//! failure seen in a server's log can be acted on without a debugger.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while configuring a logger, writing an event or reading a log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// An I/O operation on a log file or directory failed.
    #[error("audit log: cannot {action} {}: {source}", path.display())]
    Io {
        /// What the logger was doing, e.g. "write event to".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// `AUDIT_LOG_FORMAT` (or a format name given in code) is not `json`, `csv` or `none`.
    #[error(
        "audit log: invalid format {value:?} (from {origin}); expected \"json\", \"csv\" or \"none\""
    )]
    InvalidFormat {
        /// The value as given.
        value: String,
        /// Where it came from, e.g. "the AUDIT_LOG_FORMAT environment variable".
        origin: &'static str,
    },
    /// The event itself cannot be logged (for example an empty action name).
    #[error("audit log: invalid event: {0}")]
    InvalidEvent(String),
    /// A value handed to the logger could not be serialised to JSON.
    #[error("audit log: cannot serialise {what}: {source}")]
    Serialize {
        /// Which part of the event, e.g. "details".
        what: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// A path the logger writes (the log, its lock file, a temporary) is not a regular file:
    /// a symbolic link, a directory, a FIFO. The logger never follows a link there, since a
    /// planted one would send audit events, or the logger's own writes, into another file.
    #[error("audit log: refusing {}: it is {found}, not a regular file", path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
        /// What is there instead, e.g. "a symbolic link".
        found: &'static str,
    },
    /// A log file exists but is not something this crate can read.
    #[error("audit log: {} is not a valid audit log: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (byte offset or line).
        reason: String,
    },
}

impl AuditError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        AuditError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Why [`crate::init`] refused a logger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A global logger is already installed. Use [`crate::switch_experiment`] to replace it
    /// on purpose.
    #[error(
        "audit log: a global logger is already installed (experiment {current:?}); \
         call audit_runtime::switch_experiment to replace it"
    )]
    AlreadyInitialized {
        /// The experiment name of the installed logger.
        current: String,
    },
    /// Writing the events buffered before `init` failed.
    #[error("audit log: cannot write the events logged before init: {0}")]
    Flush(#[from] AuditError),
}
