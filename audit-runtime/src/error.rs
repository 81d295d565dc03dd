//! The crate's error types. Every message names the file involved and the cause, so a
//! failure seen in a server's log can be acted on without a debugger; an invalid event's
//! message names the field and what was found there, and its [`InvalidEventKind`] says which
//! rule it broke, for code that reacts to it.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while configuring a logger, writing an event or reading a log.
///
/// `Display` says what failed and names the file; the cause (the operating system's error,
/// serde_json's) is its [`source`](std::error::Error::source), not repeated in the message,
/// so error reporters that print the chain (anyhow, eyre) show it once. `Debug` prints the
/// whole chain as text, so `fn main() -> Result<(), Box<dyn Error>>` shows a readable line.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("audit_log.json"), "")?;
/// let err = audit_runtime::AuditLogger::builder(dir.path().join("audit_log.json"))
///     .format(audit_runtime::Format::Json)
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().starts_with("cannot create directory"));
/// assert!(format!("{err:?}").contains("File exists") || format!("{err:?}").contains("Not a directory"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Code that handles one kind of failure matches on its variant (the enum is
/// `#[non_exhaustive]`: keep an arm for the others):
///
/// ```
/// use audit_runtime::{AuditError, AuditLogger, Format};
/// # let dir = tempfile::tempdir()?;
/// // A deployment that misspells the format (set here for the example):
/// unsafe { std::env::set_var("AUDIT_LOG_FORMAT", "jsno") };
///
/// let logger = match AuditLogger::builder(dir.path()).strict(true).build() {
///     Ok(logger) => logger,
///     Err(AuditError::InvalidFormat { value, origin }) => {
///         assert_eq!(value, "jsno");
///         assert_eq!(origin, "the AUDIT_LOG_FORMAT environment variable");
///         // Refuse to start, or choose the format in code:
///         AuditLogger::builder(dir.path()).format(Format::Json).build()?
///     }
///     Err(other) => return Err(other.into()),
/// };
/// assert_eq!(logger.format(), Format::Json);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// An I/O operation on a log file or directory failed.
    #[error("cannot {action} {}", path.display())]
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
    #[error("invalid format {value:?} (from {origin}); expected \"json\", \"csv\" or \"none\"")]
    InvalidFormat {
        /// The value as given.
        value: String,
        /// Where it came from, e.g. "the AUDIT_LOG_FORMAT environment variable".
        origin: &'static str,
    },
    /// The event itself cannot be logged (for example an empty action name); see
    /// [`InvalidEvent::kind`].
    #[error("invalid event: {0}")]
    InvalidEvent(InvalidEvent),
    /// A value handed to the logger could not be serialised to JSON.
    #[error("cannot serialise {what}")]
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
    #[error("refusing {}: it is {found}, not a regular file", path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
        /// What is there instead, e.g. "a symbolic link".
        found: &'static str,
    },
    /// A log file exists but is not something this crate can read.
    #[error("{} is not a valid audit log: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (byte offset or line).
        reason: String,
    },
    /// A PostgreSQL database could not be reached, refused, or failed a statement, while
    /// shipping events to it or reading them back (feature `postgres`). The URL is shown
    /// without its password; the cause (the client's or the server's error) is the source.
    #[error("cannot {action} {url}")]
    Database {
        /// What was being done, e.g. "connect to".
        action: String,
        /// The database's URL, its password removed.
        url: String,
        /// The client's or the server's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Fail-closed auditing refused a call, or a call ran but its event could not be
    /// written; see [`AuditUnavailable`](crate::AuditUnavailable).
    #[error(transparent)]
    Unavailable(crate::AuditUnavailable),
}

/// Why an event is not valid: refused when it is logged ([`AuditError::InvalidEvent`]), or
/// found in a log ([`read::check_event`](crate::read::check_event) and the readers built on
/// it, which report it as [`ScanErrorKind::InvalidEvent`](crate::read::ScanErrorKind::InvalidEvent)).
///
/// `Display` is the message, naming the field (or CSV column) and what was found there;
/// [`kind`](Self::kind) says which rule the event broke.
///
/// ```
/// use audit_runtime::{AuditError, AuditLogger, InvalidEventKind, MemorySink, Status};
/// let logger = AuditLogger::in_memory(MemorySink::new());
/// let Err(AuditError::InvalidEvent(invalid)) = logger.log_event(" ", Status::Success, None, None)
/// else {
///     panic!("a blank action type is refused");
/// };
/// assert_eq!(invalid.kind(), InvalidEventKind::EmptyActionType);
/// assert_eq!(invalid.to_string(), "the action type is empty");
///
/// let typo = serde_json::json!({"timestamp": "2026-05-27T14:30:00.123456Z",
///     "actoin_type": "pause", "status": "success", "details": {}, "error": null});
/// let invalid = audit_runtime::read::check_event(&typo).unwrap_err();
/// assert_eq!(invalid.kind(), InvalidEventKind::UnexpectedField);
/// assert!(invalid.to_string().starts_with("unexpected field \"actoin_type\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidEvent {
    kind: InvalidEventKind,
    message: String,
}

impl InvalidEvent {
    pub(crate) fn new(kind: InvalidEventKind, message: impl Into<String>) -> Self {
        InvalidEvent {
            kind,
            message: message.into(),
        }
    }

    /// Which rule the event broke.
    pub fn kind(&self) -> InvalidEventKind {
        self.kind
    }
}

/// Which rule an [`InvalidEvent`] broke. The first three are checked when an event is
/// logged, the others when one is read from a log (by the rules of
/// [`read::check_event`](crate::read::check_event) for JSON, of the CSV reader for a row).
///
/// ```
/// use audit_runtime::{AuditError, AuditLogger, InvalidEventKind, MAX_DETAILS_DEPTH, MemorySink, Status};
/// use serde_json::{Value, json};
/// let sink = MemorySink::new();
/// let logger = AuditLogger::in_memory(sink.clone());
///
/// let kind_of = |result: Result<(), AuditError>| match result {
///     Err(AuditError::InvalidEvent(invalid)) => Some(invalid.kind()),
///     _ => None,
/// };
/// assert_eq!(kind_of(logger.log_event("", Status::Success, None, None)),
///            Some(InvalidEventKind::EmptyActionType));
///
/// let mut deep = json!("bottom"); // details one level deeper than allowed:
/// for _ in 0..=MAX_DETAILS_DEPTH {
///     deep = json!({ "inner": deep });
/// }
/// assert_eq!(kind_of(logger.log_event("hp_change", Status::Success, deep, None)),
///            Some(InvalidEventKind::TooDeep));
/// assert!(sink.events().is_empty()); // neither was logged
///
/// // Found in a log: the status field is empty.
/// let read = json!({"timestamp": "2026-05-27T14:30:00.123456Z", "action_type": "pause",
///                   "status": "", "details": {}, "error": Value::Null});
/// assert_eq!(audit_runtime::read::check_event(&read).unwrap_err().kind(),
///            InvalidEventKind::EmptyStatus);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidEventKind {
    /// The action type is empty (when logging, also when it is only whitespace).
    EmptyActionType,
    /// `details` nest deeper than [`MAX_DETAILS_DEPTH`](crate::MAX_DETAILS_DEPTH) levels.
    TooDeep,
    /// An element of a JSON log is not JSON, not even read leniently.
    NotJson,
    /// An element of a JSON log is not an object.
    NotAnObject,
    /// An event object has a field beyond the spec's five.
    UnexpectedField,
    /// An event object lacks one of the spec's five fields.
    MissingField,
    /// A field that holds text (`timestamp`, `action_type`, `status`, and `error` unless it
    /// is `null`) holds another kind of value.
    NotAString,
    /// The timestamp is not ISO 8601.
    InvalidTimestamp,
    /// The status is empty.
    EmptyStatus,
    /// `details` is not an object.
    DetailsNotAnObject,
    /// The `details` cell of a CSV row is not JSON.
    DetailsNotJson,
}

impl AuditError {
    pub(crate) fn invalid_event(kind: InvalidEventKind, message: impl Into<String>) -> Self {
        AuditError::InvalidEvent(InvalidEvent::new(kind, message))
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        AuditError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Why [`crate::init`] refused a logger.
///
/// ```
/// use audit_runtime::{AuditLogger, InitError, MemorySink};
/// audit_runtime::init(AuditLogger::in_memory(MemorySink::new()))?;
///
/// match audit_runtime::init(AuditLogger::in_memory(MemorySink::new())) {
///     Err(InitError::AlreadyInitialized { current }) => assert_eq!(current, "in-memory"),
///     other => panic!("a second init must fail, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A global logger is already installed. Use [`crate::switch_experiment`] to replace it
    /// on purpose.
    #[error(
        "a global logger is already installed (experiment {current:?}); \
         call audit_runtime::switch_experiment to replace it"
    )]
    AlreadyInitialized {
        /// The experiment name of the installed logger.
        current: String,
    },
    /// Writing the events buffered before `init` failed.
    #[error("cannot write the events logged before init")]
    Flush(#[from] AuditError),
}

/// An error and its causes, as one line: `what failed: cause: cause's cause`.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl std::fmt::Debug for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Chain(self))
    }
}

impl std::fmt::Debug for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Chain(self))
    }
}

impl AuditError {
    /// The message with its causes, as one line (what `Debug` prints).
    pub fn full_message(&self) -> String {
        Chain(self).to_string()
    }
}
