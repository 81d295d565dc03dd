//! What a logger did to an existing log it could not continue byte for byte.

use std::fmt;
use std::path::PathBuf;

/// Why an existing log was rewritten when it was opened.
///
/// A log written by the spec's Python reference (`json.dump(..., indent=2)`, with a bare
/// `NaN`) is valid, only laid out differently: it is relaid, every event kept.
///
/// ```
/// use audit_runtime::{AuditLogger, Format, RecoveryKind};
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("audit_log.json"), r#"[
///   {
///     "timestamp": "2026-11-25T19:03:33.541063Z",
///     "action_type": "evaluation_start",
///     "status": "success",
///     "details": {
///       "last_loss": NaN
///     },
///     "error": null
///   }
/// ]"#)?;
///
/// let logger = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
/// let recovery = logger.recovery().expect("the reference's layout is rewritten");
/// assert_eq!(recovery.kind, RecoveryKind::Relaid);
/// assert_eq!((recovery.events_kept, recovery.non_finite_converted), (1, 1));
/// let events = audit_runtime::read::open_events(dir.path().join("audit_log.json"))?
///     .collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(events[0].details["last_loss"], "NaN");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryKind {
    /// The log was valid but laid out differently (for example the reference's `indent=2`
    /// JSON, Python's bare `NaN` tokens or lone surrogate escapes): it was rewritten into
    /// this crate's layout with every event kept.
    Relaid,
    /// The log did not parse (truncated, torn write, garbage appended): its original bytes
    /// were kept aside and every complete event in it was carried over.
    Salvaged,
    /// A writer that died in the middle of writing an event (killed while its `write` was
    /// being copied into the file) left part of that event behind: at the end of a CSV log,
    /// or in a JSON log's free space. The next writer cleared those bytes before writing its
    /// own event. The cut-off event was never acknowledged to its caller, so nothing that
    /// was acknowledged is lost; every other event is untouched.
    TornWriteCleared,
}

/// The report of a recovery: see [`crate::AuditLogger::recovery`].
///
/// Opening a damaged log keeps its bytes aside and continues with every complete event
/// in it; the report says what was done, and its `Display` is one line for the
/// application's log:
///
/// ```
/// use std::io::Write;
/// use audit_runtime::{AuditLogger, Format, RecoveryKind, Status};
/// let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
/// logger.log_event("pause", Status::Success, None, None)?;
/// logger.log_event("resume", Status::Success, None, None)?;
/// drop(logger);
///
/// // Something else damages the file: garbage after the closing `]`.
/// let path = dir.path().join("audit_log.json");
/// std::fs::OpenOptions::new().append(true).open(&path)?.write_all(b"garbage\n")?;
///
/// let logger = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
/// let recovery = logger.recovery().expect("the damaged log was salvaged");
/// assert_eq!(recovery.kind, RecoveryKind::Salvaged);
/// assert_eq!(recovery.events_kept, 2);
/// let kept = recovery.original_kept_at.as_deref().expect("the damaged bytes are kept");
/// assert!(std::fs::read(kept)?.ends_with(b"garbage\n"));
/// assert!(recovery.to_string().contains("salvaged 2 complete events"));
///
/// // The log goes on, with both events.
/// logger.log_event("pause", Status::Success, None, None)?;
/// assert_eq!(logger.get_log_summary()?.total_events, 3);
/// assert_eq!(logger.stats().recoveries, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// What happened.
    pub kind: RecoveryKind,
    /// The log file.
    pub path: PathBuf,
    /// Where the original bytes were kept, when the rewrite changed more than whitespace.
    pub original_kept_at: Option<PathBuf>,
    /// How many events the continued log holds from the old one.
    pub events_kept: u64,
    /// How many bare `NaN`/`Infinity` tokens became strings.
    pub non_finite_converted: u64,
    /// How many lone surrogate escapes (`"\ud800"`, which Python writes for text that was
    /// not valid UTF-8) were replaced by U+FFFD.
    pub lone_surrogates_replaced: u64,
    /// Each problem skipped over, with its position in the original.
    pub problems: Vec<String>,
    /// Bytes of a cut-off event that were cleared ([`RecoveryKind::TornWriteCleared`]).
    pub bytes_cleared: u64,
}

impl Recovery {
    /// The report of a torn write of `bytes` bytes at `offset` that was cleared.
    pub(crate) fn torn_write(path: &std::path::Path, offset: u64, bytes: u64) -> Recovery {
        Recovery {
            kind: RecoveryKind::TornWriteCleared,
            path: path.to_owned(),
            original_kept_at: None,
            events_kept: 0,
            non_finite_converted: 0,
            lone_surrogates_replaced: 0,
            problems: vec![format!(
                "byte {offset}: {bytes} bytes of an event whose writer died while writing it"
            )],
            bytes_cleared: bytes,
        }
    }
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RecoveryKind::Relaid => write!(
                f,
                "rewrote {} into the one-event-per-line layout, keeping all {} events",
                self.path.display(),
                self.events_kept
            )?,
            RecoveryKind::Salvaged => write!(
                f,
                "{} was damaged; salvaged {} complete events",
                self.path.display(),
                self.events_kept
            )?,
            RecoveryKind::TornWriteCleared => write!(
                f,
                "{}: cleared {} bytes of an event cut off by a writer that died while writing \
                 it (it was never acknowledged; no other event was touched)",
                self.path.display(),
                self.bytes_cleared
            )?,
        }
        if self.non_finite_converted > 0 {
            write!(
                f,
                "; {} NaN/Infinity tokens written as strings",
                self.non_finite_converted
            )?;
        }
        if self.lone_surrogates_replaced > 0 {
            write!(
                f,
                "; {} lone surrogate escapes replaced by U+FFFD",
                self.lone_surrogates_replaced
            )?;
        }
        if let Some(kept) = &self.original_kept_at {
            write!(f, "; original bytes kept at {}", kept.display())?;
        }
        let problem_word = match self.kind {
            RecoveryKind::TornWriteCleared => "at",
            _ => "skipped:",
        };
        for problem in self.problems.iter().take(5) {
            write!(f, "; {problem_word} {problem}")?;
        }
        if self.problems.len() > 5 {
            write!(f, "; and {} more problems", self.problems.len() - 5)?;
        }
        Ok(())
    }
}
