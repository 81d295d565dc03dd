//! The spec's CSV log, `audit_log.csv`: a header, then one RFC 4180 record per event, oldest
//! first.
//!
//! Each event is one `write` to a file opened for appending, made under an advisory lock on
//! `.audit_log.csv.lock` so rows from several processes never interleave. The lock file also
//! holds the newest timestamp written, so timestamps increase across processes without
//! reading back through the file. A write that fails half-way (disk full) is cut off again,
//! so a later event never lands glued to a partial row.
//!
//! # Writers killed mid-write
//! SIGKILL can cut a `write` short at a page boundary, leaving a torn row at the end of the
//! file; a row appended after it would land inside the torn row's open quoted field, and the
//! acknowledged row would be lost with it. So the lock file also records where the log ended
//! after the last complete row (and which file that was). A writer that finds the file longer
//! than that reads what lies past it: complete rows (a writer killed after its write, or
//! another program appending) are kept, a torn last row is cut off, and only then does it
//! append. The check costs little per event: the length comes from an `lseek` to the end,
//! the record from the read of the newest timestamp.
//!
//! New files end their records with CRLF, as RFC 4180 and the reference implementation do;
//! a log that already exists is continued with the line ending its header uses.

pub(crate) mod encode;
pub mod formula;

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use self::encode::HEADER;
use crate::event::TIMESTAMP_LEN;
use crate::integrity::writer::{CsvHeadRecord, Point, Prepared, csv_point};
use crate::policy::size_cap;
use crate::read::summary::{LogSummary, summarize_csv_snapshot};
use crate::read::{CsvEvents, RecordPosition, SalvageError, ScanErrorKind, salvage_csv};
use crate::storage::encode::{InCsvCell, Record, with_wall_clock};
use crate::storage::fs::{self, Access, FileId, LockGuard, ReadAt, open_regular, read_at_most};
use crate::storage::log_file::{Ctx, LogFile, OpenState, Options};
use crate::storage::recovery::{Recovery, RecoveryKind};
use crate::{AuditError, Timestamp};

#[derive(Debug)]
pub(crate) struct State {
    file: Arc<File>,
    id: FileId,
    terminator: &'static [u8],
    /// The timestamp and end of the last row this process appended to this file: the
    /// lock file's record and the file's length, as long as the lock was not released since.
    last_written: Option<(Timestamp, u64)>,
    /// With the chain on: the head after the last row this process appended, valid as
    /// long as the lock was not released since (like `last_written`).
    chain: Option<Point>,
}

impl OpenState for State {
    fn file(&self) -> &Arc<File> {
        &self.file
    }
    fn id(&self) -> FileId {
        self.id
    }
}

/// An open `audit_log.csv`.
pub(crate) type CsvLog = LogFile<State>;

/// What CSV writers leave in the lock file for the next one: the newest timestamp written
/// (the CSV's last row is expensive to find from the end), and the file and length the log
/// had after the last complete row. Little-endian: microseconds (8 bytes), then length,
/// device and inode (8 bytes each). A lock file with only the first 8 bytes (older
/// versions) gives the timestamp alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Handoff {
    newest: Option<Timestamp>,
    end: Option<(FileId, u64)>,
    /// With the chain on, the chain's head that follows the record in the lock file, read
    /// with it (one read, not two): `None` when the record was not read (the lock was kept),
    /// `Some(None)` when it holds no head.
    chain: Option<Option<CsvHeadRecord>>,
}

impl Handoff {
    const LEN: usize = 32;

    fn read(guard: &LockGuard<'_>) -> Result<Handoff, AuditError> {
        let mut buf = [0u8; Handoff::LEN + CsvHeadRecord::LEN];
        let n = guard.read_payload(&mut buf)?;
        let word = |i: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&buf[i * 8..i * 8 + 8]);
            u64::from_le_bytes(bytes)
        };
        Ok(Handoff {
            newest: (n >= 8).then(|| Timestamp::from_micros(word(0) as i64)),
            end: (n >= Handoff::LEN).then(|| {
                (
                    FileId {
                        dev: word(2),
                        ino: word(3),
                    },
                    word(1),
                )
            }),
            chain: Some(buf.get(Handoff::LEN..n).and_then(CsvHeadRecord::from_bytes)),
        })
    }

    /// Writes the record, and after it the chain's head when there is one, in one write (a
    /// writer without the chain leaves what follows the record as it was).
    fn write(
        guard: &LockGuard<'_>,
        newest: Timestamp,
        id: FileId,
        end: u64,
        chain: Option<CsvHeadRecord>,
    ) -> Result<(), AuditError> {
        let mut buf = [0u8; Handoff::LEN + CsvHeadRecord::LEN];
        for (i, word) in [newest.as_micros() as u64, end, id.dev, id.ino]
            .into_iter()
            .enumerate()
        {
            buf[i * 8..i * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        let len = match chain {
            Some(record) => {
                buf[Handoff::LEN..].copy_from_slice(&record.to_bytes());
                buf.len()
            }
            None => Handoff::LEN,
        };
        guard.write_payload(&buf[..len])
    }

    /// Where the last complete row ended, if the record is about file `id`.
    fn end_of(&self, id: FileId) -> Option<u64> {
        self.end.filter(|(of, _)| *of == id).map(|(_, end)| end)
    }
}

/// Opens (or creates) the log at `path`. With `verify`, every row is checked; without, only
/// the header and that the last row is complete.
pub(crate) fn open(path: PathBuf, options: Options) -> Result<CsvLog, AuditError> {
    LogFile::open(path, options, |ctx| load(ctx, options.verify))
}

impl LogFile<State> {
    /// Appends one event and returns the timestamp it got.
    pub(crate) fn append(
        &self,
        record: &Record<'_>,
        wanted: Timestamp,
    ) -> Result<Timestamp, AuditError> {
        // Encoded before the state's mutex and the file's lock, so that threads and
        // processes wait for each other only for the syscalls. The line ending is the file's,
        // known only under the lock (the file may have been replaced meanwhile); it is the
        // row's last bytes and changes nothing before them, so it is added there.
        let mut prepared = self.chain.then(|| Prepared::new(record, true));
        let mut row = match &prepared {
            Some(p) => encode::csv_row(&p.record(record), b"")?,
            None => encode::csv_row(record, b"")?,
        };
        // The size cap (`policy::size_cap`, whose budget keeps room for the chain's link):
        // the row's length decides, and only a row longer than the details cell's cap has its
        // details measured again.
        let capped;
        let capped_record;
        let record = match self
            .size_limits
            .csv_over(row.bytes.len() + 2, record.details)
        {
            None => record,
            Some((budget, cell)) => {
                let limit = self
                    .size_limits
                    .max_event_bytes
                    .min(self.size_limits.max_csv_details_chars);
                capped = size_cap::shrink::<InCsvCell>(
                    record,
                    row.bytes.len() + 2,
                    budget - 2,
                    cell,
                    limit,
                    |r| encode::csv_row(r, b""),
                )?;
                capped_record = capped.record(record);
                row = match &mut prepared {
                    Some(p) => {
                        *p = Prepared::new(&capped_record, true);
                        encode::csv_row(&p.record(&capped_record), b"")?
                    }
                    None => encode::csv_row(&capped_record, b"")?,
                };
                self.note_truncated();
                &capped_record
            }
        };
        let (ts, seq) = {
            let mut state = self.state_for_event();
            let guard = self.lock.lock()?;
            let before = (state.id, state.chain);
            let (handoff, len) = self.settle(&mut state, &guard)?;
            let next = if self.chain {
                Some(self.chain_next(&state, &guard, &handoff, len, before)?)
            } else {
                None
            };
            let stamp = self.stamp(handoff.newest, wanted);
            if let Some(wall_clock) = stamp.wall_clock {
                let details = with_wall_clock(record.details, wall_clock);
                let record = record.with_details(&details);
                row = match &mut prepared {
                    Some(p) => {
                        *p = Prepared::new(&record, true);
                        encode::csv_row(&p.record(&record), b"")?
                    }
                    None => encode::csv_row(&record, b"")?,
                };
            }
            row.set_timestamp(stamp.timestamp);
            let link = match (next, &prepared) {
                (Some(next), Some(p)) => {
                    let link = next.link(&stamp.timestamp.to_bytes(), &p.content);
                    p.splice(&mut row, &link, b"\"\"")
                        .map_err(|e| AuditError::io("chain an event in", &self.path, e))?;
                    Some(link)
                }
                _ => None,
            };
            row.bytes.extend_from_slice(state.terminator);
            if let Err((written, e)) = append_all(&state.file, &row.bytes) {
                // Cut off whatever part of the row made it, so the next row starts cleanly.
                // Under the lock nobody else appended meanwhile.
                if written > 0 {
                    let _ = state.file.set_len(len);
                }
                return Err(AuditError::io("append event to", &self.path, e));
            }
            let end = len + row.bytes.len() as u64;
            // The row is in the file: the event is written, whatever happens next. The record
            // in the lock file only spares the next writer a look at the file's end; one that
            // finds it missing or stale looks (`settle`), so failing to write it (a full disk
            // and a new, empty lock file) must not turn a written event into an error.
            // The chain's head is also in the row itself, where a writer that finds the
            // record stale reads it: like the log's end, a failed record is a warning.
            let head_record = link.map(|link| CsvHeadRecord {
                dev: state.id.dev,
                ino: state.id.ino,
                end,
                head: link.head(),
            });
            match Handoff::write(&guard, stamp.timestamp, state.id, end, head_record) {
                Ok(()) => state.last_written = Some((stamp.timestamp, end)),
                Err(e) => {
                    state.last_written = None;
                    let what = if link.is_some() {
                        "the log's end and the chain's head"
                    } else {
                        "the log's end"
                    };
                    self.warn_unrecorded(what, &e);
                }
            }
            if let Some(link) = link {
                state.chain = Some(Point::Linked(link.head()));
                self.chained(link.head());
            }
            guard.keep_if(self.others_queued());
            (stamp.timestamp, self.note_write(row.bytes.len() as u64))
        };
        self.after_write(seq)?;
        Ok(ts)
    }

    /// A row is in the file but `what` it leaves in the lock file for the next writer could
    /// not be written there: the next writer reads it from the log instead.
    fn warn_unrecorded(&self, what: &str, error: &AuditError) {
        tracing::warn!(
            target: "audit",
            path = %self.path.display(),
            error = %error.full_message(),
            "the event was written, but {what} could not be recorded in the lock file; the \
             next writer reads it from the log instead"
        );
    }

    /// With the lock held, after [`settle`](Self::settle): the next link of the chain. The
    /// head is this process's own when the lock was kept since its last row, else the lock
    /// file's record when it names this file and its length, else the last row's (read
    /// through the file). `before`: the file and head before `settle`; a new empty file
    /// (the log was rotated or removed) continues the old file's head.
    fn chain_next(
        &self,
        state: &State,
        guard: &LockGuard<'_>,
        handoff: &Handoff,
        len: u64,
        before: (FileId, Option<Point>),
    ) -> Result<crate::integrity::chain::Next, AuditError> {
        let own = state.chain.filter(|_| guard.continued);
        let record = match (own, handoff.chain) {
            (Some(_), _) => None,
            (None, Some(read)) => read,
            // The record was not read (`settle` trusted the kept lock) but this process has
            // no head of its own: read it now.
            (None, None) => Handoff::read(guard)?.chain.flatten(),
        };
        let names = |r: &CsvHeadRecord, id: FileId| r.dev == id.dev && r.ino == id.ino;
        let point = match (own, record) {
            (Some(point), _) => point,
            (_, Some(r)) if names(&r, state.id) && r.end == len => Point::Linked(r.head),
            _ => csv_point(&state.file, len)
                .map_err(|e| AuditError::io("read the chain's head in", &self.path, e))?,
        };
        let (old_id, old_point) = before;
        let carried = if point == Point::Empty && old_id != state.id {
            match (record, old_point) {
                (Some(r), _) if names(&r, old_id) => Some(r.head),
                (_, Some(Point::Linked(head))) => Some(head),
                _ => None,
            }
        } else {
            None
        };
        Ok(point.next(carried))
    }

    /// With the lock held: makes sure `state` is the file at the path and that the file ends
    /// at a row boundary, cutting off a torn row a killed writer left. Returns the lock
    /// file's record and the file's length.
    fn settle(
        &self,
        state: &mut State,
        guard: &LockGuard<'_>,
    ) -> Result<(Handoff, u64), AuditError> {
        let at_path = self.still_at_path(state)?;
        if at_path
            && guard.continued
            && let Some((newest, end)) = state.last_written
        {
            // Nobody else held the lock since our last row: the record and the length are
            // what we left.
            let handoff = Handoff {
                newest: Some(newest),
                end: Some((state.id, end)),
                chain: None,
            };
            return Ok((handoff, end));
        }
        let handoff = Handoff::read(guard)?;
        if !at_path {
            let fresh = load(&self.ctx(), false)?;
            self.adopt(state, fresh);
        }
        let mut len = self.file_len(state)?;
        match handoff.end_of(state.id) {
            Some(end) if end == len => {}
            Some(end) if end < len => len = self.cut_torn_row(state, end, len)?,
            // Not known (a new lock file, another file) or shorter than recorded (truncated
            // by someone): the last byte tells whether the file ends a row.
            _ => {
                let mut last = [0u8; 1];
                let ends_row = len > 0
                    && read_at_most(&state.file, &mut last, len.saturating_sub(1))
                        .map_err(|e| AuditError::io("read", &self.path, e))?
                        == 1
                    && last[0] == b'\n';
                if !ends_row {
                    let fresh = load(&self.ctx(), true)?;
                    self.adopt(state, fresh);
                    len = self.file_len(state)?;
                }
            }
        }
        Ok((handoff, len))
    }

    fn file_len(&self, state: &State) -> Result<u64, AuditError> {
        fs::len_of(&state.file).map_err(|e| AuditError::io("inspect", &self.path, e))
    }

    /// The file is longer than the last complete row we know of (`end`): keeps the complete
    /// rows past it and cuts off a torn last row. Returns the new length. Anything past
    /// `end` that is neither (someone wrote something else into the file) is left to the
    /// full salvage, which keeps the original bytes aside.
    fn cut_torn_row(&self, state: &mut State, end: u64, len: u64) -> Result<u64, AuditError> {
        let source = ReadAt {
            file: &*state.file,
            offset: end,
        }
        .take(len - end);
        let mut rows = CsvEvents::starting_at(
            BufReader::new(source),
            RecordPosition { byte: end, line: 1 },
        );
        let mut good = end;
        let mut torn = true;
        while let Some(row) = rows.next() {
            match (row, rows.last_end()) {
                (Ok(_), Some((row_end, true))) => good = row_end,
                (Ok(_), _) => break,
                (Err(e), _) => {
                    torn = e.kind == ScanErrorKind::CutOffAtEnd;
                    break;
                }
            }
        }
        if good == len {
            return Ok(len);
        }
        let mut head = [0u8; TIMESTAMP_LEN];
        let n = read_at_most(&state.file, &mut head, good)
            .map_err(|e| AuditError::io("read", &self.path, e))?;
        if !torn || !starts_like_a_timestamp(&head[..n]) {
            let fresh = load(&self.ctx(), true)?;
            self.adopt(state, fresh);
            return self.file_len(state);
        }
        state
            .file
            .set_len(good)
            .map_err(|e| AuditError::io("cut a torn row off", &self.path, e))?;
        self.record(Recovery::torn_write(&self.path, good, len - good));
        Ok(good)
    }

    /// Counts the events in a snapshot: the rows that existed when the lock was taken.
    pub(crate) fn summary(&self) -> Result<LogSummary, AuditError> {
        let (file, len) = {
            let mut state = self.state();
            let guard = self.lock.lock()?;
            let (_, len) = self.settle(&mut state, &guard)?;
            (state.file.clone(), len)
        };
        summarize_csv_snapshot(ReadAt { file, offset: 0 }, len)
    }
}

/// Whether `bytes` could be the start of a row we write: a timestamp as far as it goes.
fn starts_like_a_timestamp(bytes: &[u8]) -> bool {
    let shape = b"0000-00-00T00:00:00.000000Z";
    !bytes.is_empty()
        && bytes.iter().zip(shape).all(|(&b, &want)| {
            if want == b'0' {
                b.is_ascii_digit()
            } else {
                b == want
            }
        })
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

fn state_for(path: &Path, file: File, terminator: &'static [u8]) -> Result<State, AuditError> {
    Ok(State {
        id: FileId::of_file(&file, path)?,
        file: Arc::new(file),
        terminator,
        last_written: None,
        chain: None,
    })
}

fn create_empty(ctx: &Ctx<'_>) -> Result<State, AuditError> {
    let header = encode::csv_header(b"\r\n");
    fs::replace_atomically(ctx.path, ctx.file_mode, |out| out.write_all(&header))?;
    state_for(
        ctx.path,
        open_regular(ctx.path, Access::ReadAppend)?,
        b"\r\n",
    )
}

/// With the lock held: opens the log at `ctx.path`, creating or salvaging it as needed.
fn load(ctx: &Ctx<'_>, verify: bool) -> Result<(State, Option<Recovery>), AuditError> {
    let path = ctx.path;
    let Some((file, len)) = fs::open_existing(path, Access::ReadAppend)? else {
        return Ok((create_empty(ctx)?, None));
    };
    if len == 0 {
        return Ok((create_empty(ctx)?, None));
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
        ReadAt {
            file: &file,
            offset: 0,
        },
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
        ctx.clock.observe(newest);
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
    let kept = fs::keep_aside(path, &file, "corrupt")?;
    let terminator = terminator.unwrap_or(b"\r\n");
    let source = BufReader::with_capacity(
        256 * 1024,
        ReadAt {
            file: &file,
            offset: 0,
        },
    );
    let mut rewrite_report = None;
    fs::replace_atomically(path, ctx.file_mode, |out| {
        let mut out = io::BufWriter::with_capacity(256 * 1024, out);
        out.write_all(&encode::csv_header(terminator))?;
        let report = salvage_csv(source, |_, event| -> io::Result<()> {
            let record = Record {
                action_type: &event.action_type,
                status: event.status.as_str(),
                details: &event.details,
                error: event.error.as_deref(),
            };
            let mut row = encode::csv_row(&record, terminator).map_err(io::Error::other)?;
            row.set_timestamp(event.timestamp);
            out.write_all(&row.bytes)
        })
        .map_err(crate::storage::json::salvage_io)?;
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
        bytes_cleared: 0,
    };
    Ok((
        state_for(path, open_regular(path, Access::ReadAppend)?, terminator)?,
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
