//! Fail-closed auditing's error: [`AuditUnavailable`], what an `#[audited]` call returns
//! instead of running (or instead of its own result) when its event cannot be recorded, and
//! the conversions into the error types handlers return.

use std::fmt;
use std::path::{Path, PathBuf};

/// The audit log cannot take events, so the call was refused before its body ran (or, when
/// [`ran`](Self::ran), its body ran but its event could not be written).
///
/// With a fail-closed logger ([`AuditLoggerBuilder::fail_closed`](crate::AuditLoggerBuilder::fail_closed))
/// or `#[audited(fail_closed)]`, an `#[audited]` function returning `Result<_, E>` returns
/// `Err(E::from(AuditUnavailable))`: implement `From<AuditUnavailable>` for your error type.
/// `tonic::Status` (feature `tonic`, as `UNAVAILABLE`), [`AuditError`](crate::AuditError),
/// `Box<dyn Error + Send + Sync>` and `anyhow::Error` already convert.
///
/// ```
/// use audit_runtime::{AuditLogger, AuditUnavailable, Format, audited};
///
/// #[derive(Debug)]
/// enum TrainError { Audit(AuditUnavailable) }
/// impl From<AuditUnavailable> for TrainError {
///     fn from(e: AuditUnavailable) -> Self { TrainError::Audit(e) }
/// }
///
/// #[audited(action = "pause", logger = logger)]
/// fn pause(logger: &AuditLogger, paused: &mut bool) -> Result<(), TrainError> {
///     *paused = true;
///     Ok(())
/// }
///
/// let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path().join("run"))
///     .format(Format::Json)
///     .fail_closed(true)
///     .build()?;
/// let mut paused = false;
/// pause(&logger, &mut paused).unwrap();
///
/// std::fs::remove_dir_all(dir.path().join("run"))?; // the log's directory is gone
/// paused = false;
/// let Err(TrainError::Audit(refused)) = pause(&logger, &mut paused) else { panic!() };
/// assert!(!paused, "refused before the body ran");
/// assert!(!refused.ran());
/// assert!(refused.to_string().contains("audit log"), "{refused}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditUnavailable {
    log: Option<PathBuf>,
    reason: String,
    ran: bool,
}

impl AuditUnavailable {
    pub(crate) fn refused(log: Option<&Path>, reason: impl Into<String>) -> Self {
        AuditUnavailable {
            log: log.map(Path::to_owned),
            reason: reason.into(),
            ran: false,
        }
    }

    pub(crate) fn not_recorded(log: Option<&Path>, reason: impl Into<String>) -> Self {
        AuditUnavailable {
            ran: true,
            ..AuditUnavailable::refused(log, reason)
        }
    }

    /// The log file that could not take the event, if the logger writes one.
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Why the log cannot take events.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether the call's body ran (its effects happened) and only its event is missing;
    /// `false` when the call was refused before it ran.
    pub fn ran(&self) -> bool {
        self.ran
    }
}

impl fmt::Display for AuditUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = match &self.log {
            Some(path) => format!("audit log {}", path.display()),
            None => "audit log".to_owned(),
        };
        if self.ran {
            write!(
                f,
                "the call ran, but the {log} could not record it: {}",
                self.reason
            )
        } else {
            write!(
                f,
                "the {log} cannot take events ({}): the call was refused so that nothing \
                 happens unrecorded",
                self.reason
            )
        }
    }
}

impl std::error::Error for AuditUnavailable {}

#[cfg(feature = "tonic")]
impl From<AuditUnavailable> for tonic::Status {
    /// `UNAVAILABLE`, the code a client retries on: the refusal lasts until the log is back.
    fn from(e: AuditUnavailable) -> Self {
        tonic::Status::unavailable(e.to_string())
    }
}

impl From<AuditUnavailable> for crate::AuditError {
    fn from(e: AuditUnavailable) -> Self {
        crate::AuditError::Unavailable(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_log_and_says_whether_the_call_ran() {
        let path = Path::new("runs/exp1/audit_log.json");
        let refused = AuditUnavailable::refused(Some(path), "the log directory is missing");
        assert_eq!(
            refused.to_string(),
            "the audit log runs/exp1/audit_log.json cannot take events (the log directory is \
             missing): the call was refused so that nothing happens unrecorded"
        );
        let ran = AuditUnavailable::not_recorded(Some(path), "No space left on device");
        assert!(ran.ran());
        assert!(ran.to_string().starts_with("the call ran, but"), "{ran}");
    }

    #[cfg(feature = "tonic")]
    #[test]
    fn tonic_callers_get_unavailable() {
        let status = tonic::Status::from(AuditUnavailable::refused(None, "disk full"));
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.message().contains("disk full"));
    }
}
