//! A consistent view of a log that another process may be writing at the same time.
//!
//! The runtime's writers serialise every write under an advisory lock on a sidecar next to
//! the log (`.audit_log.json.lock`, `.audit_log.csv.lock`, never replaced). While a reader
//! holds that lock no write is in progress, so:
//!
//! - **CSV**: the file's length is at a row boundary. Reading only that prefix never sees the
//!   first part of a row whose `write` is still being copied into the file (Linux reads do
//!   not wait for writes in progress).
//! - **JSON**: the newest event is where the free space ends, and everything from there on
//!   never changes in place. The reader finds a candidate first event without the lock
//!   (that needs a pass through the free space, which may be large), then under the lock
//!   checks it and walks back over lines written since, as the writer itself does: the lock
//!   is held only for a few small reads.
//!
//! The lock is taken shared (readers do not exclude each other) and only for those moments.
//! When there is no sidecar (a log not written by the runtime, such as the reference's) or it
//! cannot be locked (read-only or network media), the reader falls back: JSON on the probe
//! alone, CSV on reading to the end and re-reading a last record that looks cut off (see
//! [`crate::reader::CsvRows`]).

use std::ffi::OsString;
use std::fs::{File, TryLockError};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_runtime::Format;
use audit_runtime::read::JsonScanner;

use crate::CliError;
use crate::source::LogFile;

/// How long to wait for the writers' lock (a rewrite of a large JSON log holds it while it
/// copies the file) before reading without it.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// How many times to look for the first JSON element before reading from the start.
const FIRST_ELEMENT_ATTEMPTS: usize = 5;

/// The writers' lock file of a log, opened for reading (a reader never creates it).
pub struct Sidecar {
    file: File,
}

/// A shared hold on the writers' lock; released when dropped.
pub struct SharedLock<'a> {
    sidecar: &'a Sidecar,
}

impl Drop for SharedLock<'_> {
    fn drop(&mut self) {
        // Closing the descriptor would release it too.
        let _ = self.sidecar.file.unlock();
    }
}

impl Sidecar {
    /// The sidecar of the log at `log` (`.{name}.lock` in the same directory), if there is
    /// one that can be opened.
    pub fn open(log: &Path) -> Option<Sidecar> {
        let mut name = OsString::from(".");
        name.push(log.file_name()?);
        name.push(".lock");
        // Never through a link, and only a regular file (a FIFO planted there must not hang
        // the reader): the writers refuse anything else at that path too.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(log.with_file_name(name))
            .ok()?;
        file.metadata().ok()?.is_file().then_some(Sidecar { file })
    }

    /// Takes the lock shared, waiting at most a few seconds; `None` if it cannot be had.
    pub fn lock(&self) -> Option<SharedLock<'_>> {
        let deadline = Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_micros(100);
        loop {
            match self.file.try_lock_shared() {
                Ok(()) => return Some(SharedLock { sidecar: self }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(_) => return None,
            }
        }
    }
}

/// An open log and the part of it to read.
pub struct Snapshot {
    /// The log, opened once: every pass over it (and re-reading an event by its offsets)
    /// uses this handle, not the path a writer may rename a rewritten log onto.
    pub file: Arc<File>,
    /// JSON: where the first element (or the `]` of an empty log) is; `None` to read from
    /// the start (the layout is not ours, or the log is damaged: the scanner reports where).
    pub json_first: Option<u64>,
    /// JSON: the bytes of an event that a writer killed while writing it left in the free
    /// space (never acknowledged; the next write clears them). Readers start after them, but
    /// until then the file is not valid JSON for a reader that does not know the layout.
    pub json_torn: Option<std::ops::Range<u64>>,
    /// CSV: the length read under the writers' lock (a row boundary); `None` when the lock
    /// could not be had (read to the end of the file).
    pub csv_end: Option<u64>,
}

impl Snapshot {
    /// Opens the log and settles what to read.
    pub fn take(log: &LogFile) -> Result<Snapshot, CliError> {
        let file = File::open(&log.path)
            .map_err(|e| CliError::failure(format!("cannot open {}: {e}", log.path.display())))?;
        let sidecar = Sidecar::open(&log.path);
        let (json_first, csv_end) = match log.format {
            Format::Csv => (None, sidecar.as_ref().and_then(|s| locked_len(s, &file))),
            _ => (first_element(&file, sidecar.as_ref()), None),
        };
        let json_torn = json_first.and_then(|first| torn_before(&file, first));
        Ok(Snapshot {
            file: Arc::new(file),
            json_first,
            json_torn,
            csv_end,
        })
    }

    /// A scanner over the JSON log from its first element.
    pub fn json_scanner(&self) -> JsonScanner<FileRange> {
        let reader = FileRange::new(self.file.clone(), 0, None);
        match self.json_first {
            Some(first) => JsonScanner::inside_array(reader, first),
            None => JsonScanner::new(reader),
        }
    }
}

/// The length of `file` read with the writers' lock held.
pub fn locked_len(sidecar: &Sidecar, file: &File) -> Option<u64> {
    let _lock = sidecar.lock()?;
    file.metadata().ok().map(|m| m.len())
}

/// Where the newest event of a JSON log is (or the `]` of an empty one).
///
/// A pass through the free space while a writer fills it can see the spaces in one read and,
/// in the next, the second half of an event written in between, which can itself look like
/// JSON (`{"lr":0.1}},` ...). So a candidate must be an event followed by something that
/// scans; with the writers' lock it is then checked, and moved back to the current newest
/// event, under the lock. Without a sidecar the probe alone decides.
pub fn first_element(file: &File, sidecar: Option<&Sidecar>) -> Option<u64> {
    let mut probed = None;
    for _ in 0..FIRST_ELEMENT_ATTEMPTS {
        let Some(candidate) = probe_first(file) else {
            continue;
        };
        probed = Some(candidate);
        let Some(sidecar) = sidecar else {
            return probed;
        };
        let Some(lock) = sidecar.lock() else {
            return probed;
        };
        // The writers' own walk (storage::json::layout), so the reader cannot drift from it.
        let confirmed = audit_runtime::read::json_newest_event_at(file, candidate)
            .ok()
            .flatten();
        drop(lock);
        if confirmed.is_some() {
            return confirmed;
        }
    }
    // Not our layout (or not found): the probe's answer, or read from the start.
    probed
}

/// The event cut off by a killed writer just before the first event at `first`, if the torn
/// mark is still there.
fn torn_before(file: &File, first: u64) -> Option<std::ops::Range<u64>> {
    let mut mark = [0u8; 1];
    if first < 2 || read_at_most(file, &mut mark, first - 2).ok()? != 1 || mark[0] != b'\r' {
        return None;
    }
    audit_runtime::read::json_first_event(file)
        .ok()??
        .torn
        .filter(|torn| torn.end + 1 == first)
}

/// One pass from the start to the first element and the one after it. A log in the
/// runtime's layout is probed the way its writers find the first event (past what a writer
/// killed mid-event left); anything else by scanning from the start.
fn probe_first(file: &File) -> Option<u64> {
    if let Ok(Some(start)) = audit_runtime::read::json_first_event(file) {
        return Some(start.first);
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

/// The offset just after the newline that precedes `newline_at` (which holds a newline),
/// found by reading backwards, as the JSON writer does; `None` if there is none.
pub fn start_of_line_before(file: &File, newline_at: u64) -> io::Result<Option<u64>> {
    Ok(audit_runtime::read::rfind_either(file, newline_at, b'\n', b'\n')?.map(|(at, _)| at + 1))
}

pub use audit_runtime::read::read_at_most;

/// A shared file read from an offset with positioned reads, up to an optional end: several
/// readers over one handle do not disturb each other's position.
pub struct FileRange {
    file: Arc<File>,
    pos: u64,
    end: Option<u64>,
}

impl FileRange {
    /// Reads `file` from `pos`, stopping at `end` if given.
    pub fn new(file: Arc<File>, pos: u64, end: Option<u64>) -> Self {
        FileRange { file, pos, end }
    }
}

impl Read for FileRange {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = match self.end {
            Some(end) => usize::try_from(end.saturating_sub(self.pos)).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let take = buf.len().min(room);
        if take == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..take], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for FileRange {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "seek out of range");
        self.pos = match to {
            SeekFrom::Start(at) => at,
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta).ok_or_else(invalid)?,
            SeekFrom::End(delta) => {
                let len = match self.end {
                    Some(end) => end,
                    None => self.file.metadata()?.len(),
                };
                len.checked_add_signed(delta).ok_or_else(invalid)?
            }
        };
        Ok(self.pos)
    }
}
