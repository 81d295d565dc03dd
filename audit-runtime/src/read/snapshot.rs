//! A consistent view of a log that another process may be writing at the same time.
//!
//! The writers serialise every write under an advisory lock on a file next to the log
//! (`.audit_log.json.lock`, `.audit_log.csv.lock`, never replaced). While a reader holds that
//! lock no write is in progress, so:
//!
//! - **CSV**: the file's length is at a row boundary. Reading only that prefix never sees the
//!   first part of a row whose `write` is still being copied into the file (Linux reads do
//!   not wait for writes in progress).
//! - **JSON**: the newest event is where the free space ends, and everything from there on
//!   never changes in place. A candidate newest event is found without the lock (that needs
//!   a pass through the free space, which may be large), then checked under the lock and
//!   moved back over lines written since, as the writers do before each write
//!   ([`crate::storage::json::layout`], the one definition of the layout): the lock is held
//!   only for a few small reads.
//!
//! The lock is taken shared (readers do not exclude each other) and only for those moments.
//! When there is no lock file (a log not written by this crate, such as the reference's) or
//! it cannot be locked (read-only or network media), the snapshot falls back: JSON on the
//! probe alone, CSV on reading to the end and reading a last row that looks cut off again
//! after a moment.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::stream::{Bounds, EventSpan, EventStream};
use super::{CsvEvents, JsonScanner, RecordPosition, parse_event};
use crate::storage::fs::{ReaderLock, read_at_most};
use crate::storage::json::layout::{self, GapRepair, Probe};
use crate::{AuditError, AuditEvent, Format};

/// How long to wait for the writers' lock (a rewrite of a large JSON log holds it while it
/// copies the file) before reading without it.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(3);

/// How many times to look for the newest JSON event before reading from the start.
const NEWEST_EVENT_ATTEMPTS: usize = 5;

/// A log opened once, and the part of it that is consistent now, settled under the writers'
/// shared lock: for CSV the length (a row boundary), for JSON where the newest event is.
///
/// Every read through a snapshot ([`events`](Self::events), [`read_event`](Self::read_event))
/// uses its one open handle, not the path: a writer may rename a rewritten JSON log over the
/// path meanwhile, and the offsets a snapshot hands out are offsets in the file it opened.
///
/// ```
/// use audit_runtime::read::Snapshot;
/// use audit_runtime::{AuditLogger, Format, Status};
/// # let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
/// for step in 0..3 {
///     logger.log_event("hp_change", Status::Success, serde_json::json!({"step": step}), None)?;
/// }
/// // Another thread or process may go on logging; the snapshot stays consistent.
/// let snapshot = Snapshot::take(logger.path().unwrap(), Format::Json)?;
/// assert!(snapshot.newest_event_at().is_some() && snapshot.locked_len().is_some());
/// let newest_first: Vec<_> = snapshot.events().collect::<Result<_, _>>()?;
/// assert_eq!(newest_first[0].details["step"], 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Snapshot {
    path: PathBuf,
    format: Format,
    file: Arc<File>,
    locked_len: Option<u64>,
    newest_event_at: Option<u64>,
    torn_event: Option<Range<u64>>,
}

impl Snapshot {
    /// Opens the log at `path`, read as `format`, and settles what is consistent in it.
    ///
    /// Waits a few seconds at most for the writers' lock (a JSON rewrite holds it while it
    /// copies the log), then reads without it. Errors only when the file cannot be opened or
    /// `format` is [`Format::None`].
    pub fn take(path: impl AsRef<Path>, format: Format) -> Result<Snapshot, AuditError> {
        Self::take_within(path.as_ref(), format, LOCK_WAIT)
    }

    pub(crate) fn take_within(
        path: &Path,
        format: Format,
        lock_wait: Duration,
    ) -> Result<Snapshot, AuditError> {
        if format == Format::None {
            return Err(AuditError::InvalidFormat {
                value: "none".to_owned(),
                origin: "Snapshot::take (a log must be json or csv)",
            });
        }
        let file = File::open(path).map_err(|e| AuditError::io("open", path, e))?;
        let lock = ReaderLock::open(path);
        let (newest_event_at, locked_len) = match format {
            Format::Csv => (
                None,
                lock.as_ref().and_then(|l| locked_len(l, &file, lock_wait)),
            ),
            _ => newest_json_event(&file, lock.as_ref(), lock_wait),
        };
        let torn_event = newest_event_at.and_then(|at| torn_before(&file, path, at));
        Ok(Snapshot {
            path: path.to_owned(),
            format,
            file: Arc::new(file),
            locked_len,
            newest_event_at,
            torn_event,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format it is read as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The file's length, read with the writers' lock held (no write in progress: for CSV a
    /// row boundary, and the rows the snapshot reads end there); `None` when the lock could
    /// not be had (no lock file, or one that cannot be locked).
    pub fn locked_len(&self) -> Option<u64> {
        self.locked_len
    }

    /// JSON: where the newest event starts (or the `]` of an empty log), found as the writers
    /// find it and, with the lock, checked under it. `None` for CSV, and for a JSON log not
    /// in this crate's layout (such as the reference's `indent=2` files) or damaged: it is
    /// read from its start then (and a problem is reported where it is).
    pub fn newest_event_at(&self) -> Option<u64> {
        self.newest_event_at
    }

    /// JSON: the bytes of an event that a writer killed while writing it left in the free
    /// space, just before the newest event (it was never acknowledged, and the next write
    /// clears it). The snapshot's events start after it; until it is cleared the file is not
    /// valid JSON for a reader that does not know the layout (`json.load`, `jq`).
    pub fn torn_event(&self) -> Option<Range<u64>> {
        self.torn_event.clone()
    }

    /// The snapshot's events in stored order (newest first for JSON, oldest first for CSV),
    /// with their positions: for JSON from the newest event on, for CSV up to
    /// [`locked_len`](Self::locked_len). Without the lock, a last CSV row that runs into the
    /// end of the file is read again after a moment before it is taken as cut off (see
    /// [`EventStream::skip_cut_off_end`]).
    pub fn events(&self) -> EventStream {
        EventStream::over(
            &self.path,
            self.format,
            self.file.clone(),
            Bounds {
                json_first: self.newest_event_at,
                csv_end: self.locked_len,
                reread_cut_off: self.locked_len.is_none(),
            },
        )
    }

    /// Reads back the event at `span`, found by an earlier pass over this snapshot (to visit
    /// events in the other order than stored, keeping only their spans in memory).
    pub fn read_event(&self, span: EventSpan) -> Result<AuditEvent, AuditError> {
        let changed = || {
            AuditError::io(
                "read",
                &self.path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "the event at byte {} changed while it was being read",
                        span.offset
                    ),
                ),
            )
        };
        let len = usize::try_from(span.end.saturating_sub(span.offset)).map_err(|_| changed())?;
        let mut bytes = vec![0u8; len];
        let n = read_at_most(&self.file, &mut bytes, span.offset)
            .map_err(|e| AuditError::io("read", &self.path, e))?;
        if n < len {
            return Err(changed());
        }
        match self.format {
            Format::Csv => {
                let position = RecordPosition {
                    byte: span.offset,
                    line: span.line,
                };
                match CsvEvents::starting_at(bytes.as_slice(), position).next() {
                    Some(Ok((_, event))) => Ok(event),
                    _ => Err(changed()),
                }
            }
            _ => parse_event(&bytes).map_err(|_| changed()),
        }
    }

    pub(crate) fn file(&self) -> &Arc<File> {
        &self.file
    }
}

/// The length of `file` read with the writers' lock held.
pub(crate) fn locked_len(lock: &ReaderLock, file: &File, wait: Duration) -> Option<u64> {
    let _held = lock.lock_shared(wait)?;
    file.metadata().ok().map(|m| m.len())
}

/// Where the newest event of a JSON log is (or the `]` of an empty one), and the file's
/// length when the position was confirmed under the writers' lock.
///
/// A pass through the free space while a writer fills it can see the spaces in one read and,
/// in the next, the second half of an event written in between, which can itself look like
/// JSON (`{"lr":0.1}},` ...). So a candidate must be an event followed by something that
/// scans; with the writers' lock it is then checked, and moved back to the current newest
/// event, under the lock. Without a lock file the probe alone decides.
pub(crate) fn newest_json_event(
    file: &File,
    lock: Option<&ReaderLock>,
    wait: Duration,
) -> (Option<u64>, Option<u64>) {
    let mut probed = None;
    for _ in 0..NEWEST_EVENT_ATTEMPTS {
        let Some(candidate) = probe_newest(file) else {
            continue;
        };
        probed = Some(candidate);
        let Some(lock) = lock else {
            return (probed, None);
        };
        let Some(held) = lock.lock_shared(wait) else {
            return (probed, None);
        };
        // The writers' own walk, so that a reader cannot drift from it.
        let confirmed = layout::newest_event_at(file, candidate).ok().flatten();
        let len = file.metadata().ok().map(|m| m.len());
        drop(held);
        if confirmed.is_some() {
            return (confirmed, len);
        }
    }
    // Not this layout (or not found): the probe's answer, or read from the start.
    (probed, None)
}

/// One pass from the start to the newest event and the one after it. A log in this crate's
/// layout is probed the way its writers find the newest event (past what a writer killed
/// mid-event left); anything else by scanning from the start.
fn probe_newest(file: &File) -> Option<u64> {
    let len = file.metadata().ok()?.len();
    if let Ok(Some(found)) = layout::quick_layout(file, len, Path::new("the log")) {
        return Some(found.gap_end);
    }
    let mut probe = JsonScanner::new(file);
    match probe.next_element() {
        Ok(Some(element)) if element.to_event().is_ok() => {
            probe.next_element().is_ok().then_some(element.start)
        }
        Ok(Some(_)) | Err(_) => None,
        Ok(None) => probe.array_end(),
    }
}

/// The event cut off by a killed writer just before the newest event at `newest`, if the
/// torn mark is still there.
fn torn_before(file: &File, path: &Path, newest: u64) -> Option<Range<u64>> {
    if layout::probe(file, newest).ok()? != Probe::Torn {
        return None;
    }
    let len = file.metadata().ok()?.len();
    match layout::quick_layout(file, len, path).ok()??.repair {
        Some(GapRepair::Torn { start, end }) if end + 1 == newest => Some(start..end),
        _ => None,
    }
}
