//! The spec's CSV log, `audit_log.csv`: a header, then one RFC 4180 record per event, oldest
//! first.
//!
//! Each event is one `write` to a file opened for appending, made under an advisory lock on
//! `.audit_log.csv.lock` so rows from several processes never interleave. The lock file also
//! holds the newest timestamp written, so timestamps increase across processes without
//! reading back through the file. A write that fails half-way (disk full) is cut off again,
//! so a later event never lands glued to a partial row.
//!
//! New files end their records with CRLF, as RFC 4180 and the reference implementation do;
//! a log that already exists is continued with the line ending its header uses.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::encode::{self, Record};
use crate::fsutil::{self, FileId, read_at_most};
use crate::log_file::{LogFile, OpenState, STALE_CHECK_INTERVAL, adopt};
use crate::read::{SalvageError, salvage_csv};
use crate::recovery::{Recovery, RecoveryKind};
use crate::summary::{LogSummary, summarize_csv_snapshot};
use crate::timestamp::MonotonicClock;
use crate::{AuditError, Durability, Timestamp};

const HEADER: &[u8] = b"timestamp,action_type,status,details,error";

#[derive(Debug)]
pub(crate) struct State {
    file: Arc<File>,
    id: FileId,
    terminator: &'static [u8],
    /// When `file` was last checked against the path with `fstat`.
    checked: Instant,
}

impl OpenState for State {
    fn file(&self) -> &Arc<File> {
        &self.file
    }
}

/// An open `audit_log.csv`.
pub(crate) type CsvLog = LogFile<State>;

/// Opens (or creates) the log at `path`. With `verify`, every row is checked; without, only
/// the header and that the last row is complete.
pub(crate) fn open(
    path: PathBuf,
    durability: Durability,
    verify: bool,
) -> Result<(CsvLog, Option<Recovery>), AuditError> {
    LogFile::open(path, durability, |path, clock| load(path, clock, verify))
}

impl LogFile<State> {
    /// Appends one event and returns the timestamp it got.
    pub(crate) fn append(
        &self,
        record: &Record<'_>,
        wanted: Timestamp,
    ) -> Result<Timestamp, AuditError> {
        let (ts, seq) = {
            let mut state = self.state();
            let mut row = encode::csv_row(record, state.terminator)?;
            let _guard = self.lock.lock()?;
            // Removal or replacement by something else is checked now and then, not per
            // event: `fstat` on a busy file costs more than the rest of the event.
            if state.checked.elapsed() >= STALE_CHECK_INTERVAL {
                if state.id.len_if_current(&state.file, &self.path)?.is_none() {
                    adopt(&mut *state, load(&self.path, &self.clock, false)?);
                    row = encode::csv_row(record, state.terminator)?;
                }
                state.checked = Instant::now();
            }
            if let Some(newest) = self.newest_from_lock_file()? {
                self.clock.observe(newest);
            }
            let ts = self.clock.next_after(wanted);
            row.set_timestamp(ts);
            if let Err((written, e)) = append_all(&state.file, &row.bytes) {
                // Cut off whatever part of the row made it, so the next row starts cleanly.
                // Under the lock nobody else appended meanwhile.
                if written > 0
                    && let Ok(meta) = state.file.metadata()
                {
                    let _ = state.file.set_len(meta.len().saturating_sub(written));
                }
                return Err(AuditError::io("append event to", &self.path, e));
            }
            self.lock.write_payload(&ts.as_micros().to_le_bytes())?;
            (ts, self.note_write())
        };
        self.after_write(seq)?;
        Ok(ts)
    }

    /// The newest timestamp any process wrote, kept in the lock file as 8 little-endian
    /// bytes of microseconds (the CSV's last row is expensive to find from the end).
    fn newest_from_lock_file(&self) -> Result<Option<Timestamp>, AuditError> {
        let mut buf = [0u8; 8];
        let n = self.lock.read_payload(&mut buf)?;
        Ok((n == buf.len()).then(|| Timestamp::from_micros(i64::from_le_bytes(buf))))
    }

    /// Counts the events in a snapshot: the rows that existed when the lock was taken.
    pub(crate) fn summary(&self) -> Result<LogSummary, AuditError> {
        let (file, len) = {
            let mut state = self.state();
            let _guard = self.lock.lock()?;
            if state.id.len_if_current(&state.file, &self.path)?.is_none() {
                adopt(&mut *state, load(&self.path, &self.clock, false)?);
            }
            state.checked = Instant::now();
            let file = File::open(&self.path).map_err(|e| AuditError::io("open", &self.path, e))?;
            let len = file
                .metadata()
                .map_err(|e| AuditError::io("inspect", &self.path, e))?
                .len();
            (file, len)
        };
        summarize_csv_snapshot(file, len)
    }
}

/// Writes all of `bytes` at the end of `file`; on failure, says how many bytes made it.
fn append_all(file: &File, bytes: &[u8]) -> Result<(), (u64, io::Error)> {
    let mut done = 0;
    while done < bytes.len() {
        match (&*file).write(&bytes[done..]) {
            Ok(0) => return Err((done as u64, io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((done as u64, e)),
        }
    }
    Ok(())
}

fn open_append(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
        .map_err(|e| AuditError::io("open", path, e))
}

fn state_for(path: &Path, file: File, terminator: &'static [u8]) -> Result<State, AuditError> {
    Ok(State {
        id: FileId::of_file(&file, path)?,
        file: Arc::new(file),
        terminator,
        checked: Instant::now(),
    })
}

fn create_empty(path: &Path) -> Result<State, AuditError> {
    let header = encode::csv_header(b"\r\n");
    fsutil::replace_atomically(path, |out| out.write_all(&header))?;
    state_for(path, open_append(path)?, b"\r\n")
}

/// With the lock held: opens the log at `path`, creating or salvaging it as needed.
fn load(
    path: &Path,
    clock: &MonotonicClock,
    verify: bool,
) -> Result<(State, Option<Recovery>), AuditError> {
    let file = match open_append(path) {
        Ok(file) => file,
        Err(AuditError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok((create_empty(path)?, None));
        }
        Err(e) => return Err(e),
    };
    let len = file
        .metadata()
        .map_err(|e| AuditError::io("inspect", path, e))?
        .len();
    if len == 0 {
        return Ok((create_empty(path)?, None));
    }
    let terminator = header_terminator(&file, path)?;
    let mut last = [0u8; 1];
    read_at_most(&file, &mut last, len - 1).map_err(|e| AuditError::io("read", path, e))?;
    if let Some(terminator) = terminator
        && !verify
        && last[0] == b'\n'
    {
        return Ok((state_for(path, file, terminator)?, None));
    }
    // Read every row: needed for verification, and to find the good part of a damaged file.
    let source = BufReader::with_capacity(
        256 * 1024,
        File::open(path).map_err(|e| AuditError::io("open", path, e))?,
    );
    let mut newest = None;
    let report = salvage_csv(source, |_, event| -> Result<(), AuditError> {
        newest = Some(event.timestamp);
        Ok(())
    })
    .map_err(|e| match e {
        SalvageError::Io(e) => AuditError::io("read", path, e),
        SalvageError::Callback(e) => e,
    })?;
    if let Some(newest) = newest {
        clock.observe(newest);
    }
    if let Some(terminator) = terminator
        && report.problems.is_empty()
        && report.good_prefix_len == len
    {
        if report.needs_line_break {
            // The last record is complete but unterminated: end it, so the next row is a
            // row of its own.
            (&file)
                .write_all(terminator)
                .map_err(|e| AuditError::io("append to", path, e))?;
        }
        return Ok((state_for(path, file, terminator)?, None));
    }
    // Damaged: keep the original bytes, then rewrite with every row that could be read.
    let kept = fsutil::keep_aside(path, "corrupt")?;
    let terminator = terminator.unwrap_or(b"\r\n");
    let source = BufReader::with_capacity(
        256 * 1024,
        File::open(path).map_err(|e| AuditError::io("open", path, e))?,
    );
    let mut rewrite_report = None;
    fsutil::replace_atomically(path, |out| {
        let mut out = io::BufWriter::with_capacity(256 * 1024, out);
        out.write_all(&encode::csv_header(terminator))?;
        let report = salvage_csv(source, |_, event| -> io::Result<()> {
            let record = Record {
                action_type: &event.action_type,
                status: event.status,
                details: &event.details,
                error: event.error.as_deref(),
            };
            let mut row = encode::csv_row(&record, terminator).map_err(io::Error::other)?;
            row.set_timestamp(event.timestamp);
            out.write_all(&row.bytes)
        })
        .map_err(crate::json_file::salvage_io)?;
        out.flush()?;
        rewrite_report = Some(report);
        Ok(())
    })?;
    let report = rewrite_report.unwrap_or_default();
    let recovery = Recovery {
        kind: RecoveryKind::Salvaged,
        path: path.to_owned(),
        original_kept_at: Some(kept),
        events_kept: report.recovered,
        non_finite_converted: report.non_finite_tokens,
        lone_surrogates_replaced: report.lone_surrogates,
        problems: report.problems.iter().map(ToString::to_string).collect(),
    };
    recovery.report();
    Ok((
        state_for(path, open_append(path)?, terminator)?,
        Some(recovery),
    ))
}

/// The line ending of the header if the file starts with the spec's header, else `None`.
fn header_terminator(file: &File, path: &Path) -> Result<Option<&'static [u8]>, AuditError> {
    let mut head = [0u8; HEADER.len() + 2];
    let n = read_at_most(file, &mut head, 0).map_err(|e| AuditError::io("read", path, e))?;
    let head = &head[..n];
    Ok(if head.starts_with(HEADER) {
        match &head[HEADER.len()..] {
            [b'\r', b'\n'] => Some(b"\r\n"),
            [b'\n', ..] => Some(b"\n"),
            _ => None,
        }
    } else {
        None
    })
}
