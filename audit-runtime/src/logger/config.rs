//! Logger configuration: the output format and its precedence (explicit setting, then the
//! `AUDIT_LOG_FORMAT` environment variable, then JSON), and durability.

use std::fmt;
use std::str::FromStr;

use crate::AuditError;

/// The environment variable the spec uses to choose the format.
pub const FORMAT_ENV_VAR: &str = "AUDIT_LOG_FORMAT";

/// Which file the logger writes.
///
/// Chosen with [`AuditLoggerBuilder::format`](crate::AuditLoggerBuilder::format), else by
/// the `AUDIT_LOG_FORMAT` environment variable ([`FORMAT_ENV_VAR`]), else JSON. The names
/// parse as the spec's reference reads the variable, ignoring case and surrounding spaces.
///
/// ```
/// use audit_runtime::{AuditLogger, Format, Status};
///
/// assert_eq!(" CSV ".parse::<Format>()?, Format::Csv);
/// assert_eq!(Format::Csv.file_name(), Some("audit_log.csv"));
/// assert_eq!(Format::None.to_string(), "none");
///
/// // `none` writes nothing at all: auditing is off.
/// let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path()).format(Format::None).build()?;
/// logger.log_event("pause", Status::Success, None, None)?;
/// assert!(!logger.is_enabled());
/// assert_eq!(logger.path(), None);
/// assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `{root_log_dir}/audit_log.json`: one JSON array, newest event first.
    #[default]
    Json,
    /// `{root_log_dir}/audit_log.csv`: a header, then one row per event, oldest first.
    Csv,
    /// No file at all; logging returns at once.
    None,
}

impl Format {
    /// The name used in `AUDIT_LOG_FORMAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::None => "none",
        }
    }

    /// The log's file name inside the log directory, if the format writes one.
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            Format::Json => Some("audit_log.json"),
            Format::Csv => Some("audit_log.csv"),
            Format::None => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = AuditError;

    /// Case and surrounding whitespace are ignored, as the spec's reference does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "none" => Ok(Format::None),
            _ => Err(AuditError::InvalidFormat {
                value: s.to_owned(),
                origin: "a format name",
            }),
        }
    }
}

/// How far an event has travelled when `log_event` returns.
///
/// Either way the event is in the file when logging returns, for every reader to see; the
/// difference is whether it would also survive a power cut.
///
/// ```
/// use audit_runtime::{AuditLogger, Durability, Format, Status};
/// let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path())
///     .format(Format::Csv)
///     .durability(Durability::Synced) // on the disk before log_event returns
///     .build()?;
/// logger.log_event("checkpoint_restore", Status::Success, None, None)?;
/// let csv = std::fs::read_to_string(dir.path().join("audit_log.csv"))?;
/// assert_eq!(csv.lines().count(), 2); // the header and the event
///
/// // With the default, `Written`, call `flush` where a power cut must not lose events.
/// let logger = AuditLogger::builder(dir.path().join("run_2")).format(Format::Csv).build()?;
/// logger.log_event("pause", Status::Success, None, None)?;
/// logger.flush()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// Handed to the kernel with a write system call: survives a crash of the process
    /// (SIGKILL, panic, OOM kill), not a power cut. Fast.
    #[default]
    Written,
    /// Also on the disk (`fdatasync`) before returning: survives a power cut. Concurrent
    /// callers share one sync (group commit).
    Synced,
}

/// Resolves the format: explicit beats `AUDIT_LOG_FORMAT`, which beats JSON.
///
/// An unrecognised environment value is an error when `strict`, and otherwise falls back
/// to JSON with a warning on stderr (the reference falls back silently).
pub(crate) fn resolve_format(
    explicit: Option<Format>,
    env_value: Option<&str>,
    strict: bool,
) -> Result<Format, AuditError> {
    if let Some(format) = explicit {
        return Ok(format);
    }
    let Some(raw) = env_value else {
        return Ok(Format::Json);
    };
    if raw.trim().is_empty() {
        return Ok(Format::Json);
    }
    match raw.parse::<Format>() {
        Ok(format) => Ok(format),
        Err(_) if strict => Err(AuditError::InvalidFormat {
            value: raw.to_owned(),
            origin: "the AUDIT_LOG_FORMAT environment variable",
        }),
        Err(_) => {
            tracing::warn!(
                target: "audit",
                "{FORMAT_ENV_VAR}={raw:?} is not \"json\", \"csv\" or \"none\"; writing json"
            );
            Ok(Format::Json)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_beats_environment_beats_default() {
        assert_eq!(
            resolve_format(Some(Format::Csv), Some("none"), true).unwrap(),
            Format::Csv
        );
        assert_eq!(
            resolve_format(None, Some("csv"), true).unwrap(),
            Format::Csv
        );
        assert_eq!(resolve_format(None, None, true).unwrap(), Format::Json);
    }

    #[test]
    fn environment_ignores_case_and_spaces() {
        for raw in ["CSV", " csv ", "Csv\n"] {
            assert_eq!(resolve_format(None, Some(raw), true).unwrap(), Format::Csv);
        }
        assert_eq!(
            resolve_format(None, Some(" NONE"), true).unwrap(),
            Format::None
        );
        assert_eq!(resolve_format(None, Some(""), true).unwrap(), Format::Json);
    }

    #[test]
    fn invalid_environment_value_falls_back_or_fails_when_strict() {
        assert_eq!(
            resolve_format(None, Some("xml"), false).unwrap(),
            Format::Json
        );
        let err = resolve_format(None, Some("xml"), true).unwrap_err();
        assert!(err.to_string().contains("\"xml\""), "{err}");
        assert!(err.to_string().contains("AUDIT_LOG_FORMAT"), "{err}");
    }
}
