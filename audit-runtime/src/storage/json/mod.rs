//! The spec's JSON log, `audit_log.json`: one array, newest event first, valid JSON after
//! every acknowledged event, at a cost per event that does not depend on the log's size.
//!
//! # Layout
//! ```text
//! [<gap: spaces>
//! {"timestamp":"2026-05-27T14:30:10.789012Z",...},
//! {"timestamp":"2026-05-27T14:30:05.456789Z",...},
//! {"timestamp":"2026-05-27T14:30:00.123456Z",...}
//! ]
//! ```
//! JSON allows any whitespace after `[`, so the first line holds a run of spaces (the gap).
//! A new event is written as `\n{event},\n` into the end of the gap with one positioned
//! write: the chunk's last newline lands on the newline that ended the gap, its first newline
//! becomes the gap's new end. Every event sits on a line of its own, newest first, and the
//! bytes at and after the first event never change in place.
//!
//! When the gap is too small, the file is rewritten once with a gap of 64 KiB plus a quarter
//! of its content (so the gap never costs more disk than that), to a temporary file that is
//! synced and renamed over the log: a crash at any instant leaves the old or the new file.
//! Rewrites copy O(n) bytes but happen after O(n) bytes of new events, so each event costs
//! O(1) amortised; most events cost a lock, a 43-byte read and one write.
//!
//! # Several writers
//! Threads share one handle under a mutex; processes exclude each other with an advisory lock
//! on `.audit_log.json.lock`, a sidecar that is never replaced by us (and is re-created and
//! re-locked if someone else removes it). Under the lock a writer first checks with one
//! `lstat` that its handle is still the file at the path (not rotated, removed or replaced),
//! then reads the bytes around the first event: if another process wrote event lines into
//! the gap since, it reads back over them to the gap's new end; if another process rewrote
//! the file, the old file's gap newline has been turned into a tab (the rewriter's last step
//! before the rename), and the writer moves to the file now at the path.
//!
//! # Writers killed mid-write
//! Linux copies a `write` into the page cache one page at a time and checks for a fatal
//! signal between pages, so SIGKILL can cut a write short at a page boundary, leaving the
//! first pages of an event in the gap. A write within one page is all or nothing. So before
//! an event that spans a page boundary the writer puts a carriage return (JSON whitespace,
//! so the file stays valid) just before the gap's final newline: that byte lies in the
//! event's last page, which is copied last and overwrites it. A writer that finds the mark
//! there knows the writer before it died mid-event: it clears the partial event (spaces from
//! its first byte, the newline that starts every event line) and goes on. No byte is spent
//! on events within a page, and the repair needs no full salvage.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::storage::encode::{Record, with_wall_clock};
use crate::storage::fs::{self, Access, FileId, ReadAt, open_regular, read_at_most};
use crate::storage::log_file::{Ctx, LogFile, OpenState, Options};

pub(crate) mod encode;
pub(crate) mod layout;

use self::layout::{
    EVENT_HEAD, MIN_GAP, PAGE, Probe, REPLACED_MARK, TORN_MARK, gap_for, head_is_gap,
    newest_timestamp, quick_layout, write_spaces,
};
use crate::read::summary::{LogSummary, summarize_json_snapshot};
use crate::read::{JsonElement, JsonScanner, SalvageError, salvage_json};
use crate::storage::recovery::{Recovery, RecoveryKind};
use crate::{AuditError, Timestamp};

#[derive(Debug)]
pub(crate) struct State {
    file: Arc<File>,
    id: FileId,
    /// Offset of the newest event's `{`, or of the `]` when the log is empty. The byte before
    /// it is the newline that ends the gap. May be stale (too high) when another process
    /// wrote since; [`JsonLog::locate_gap`] corrects it.
    gap_end: u64,
}

impl OpenState for State {
    fn file(&self) -> &Arc<File> {
        &self.file
    }
    fn id(&self) -> FileId {
        self.id
    }
}

/// An open `audit_log.json`.
pub(crate) type JsonLog = LogFile<State>;

/// Opens (or creates) the log at `path`, continuing whatever is there. With `verify`, the
/// whole file is checked; without, only its first event and its end.
pub(crate) fn open(path: PathBuf, options: Options) -> Result<JsonLog, AuditError> {
    // Reading a large log takes a while; do it before taking the lock, so that opening a
    // log does not stall the processes writing to it.
    let checked = if options.verify {
        verify_unlocked(&path)
    } else {
        None
    };
    LogFile::open(path, options, |ctx| {
        load_checked(ctx, options.verify, checked)
    })
}

impl LogFile<State> {
    /// Writes one event and returns the timestamp it got (strictly later than every event
    /// already in the file, and not earlier than `wanted`).
    pub(crate) fn append(
        &self,
        record: &Record<'_>,
        wanted: Timestamp,
    ) -> Result<Timestamp, AuditError> {
        let mut line = encode::json_line(b"\n", record)?;
        let (ts, seq) = {
            let mut state = self.state();
            let _guard = self.lock.lock()?;
            let newest = self.locate_gap(&mut state)?;
            let stamp = self.stamp(newest, wanted);
            if let Some(wall_clock) = stamp.wall_clock {
                let details = with_wall_clock(record.details, wall_clock);
                line = encode::json_line(b"\n", &record.with_details(&details))?;
            }
            line.set_timestamp(stamp.timestamp);
            // The first event of an empty log ends at the `]`; any other precedes an event.
            line.bytes
                .extend_from_slice(if newest.is_some() { b",\n" } else { b"\n" });
            let chunk = &line.bytes;
            let len = chunk.len() as u64;
            if state.gap_end > len {
                let at = state.gap_end - len;
                let mark_at = state.gap_end - 2;
                let spans_pages = at / PAGE != (state.gap_end - 1) / PAGE;
                let written = if spans_pages {
                    state.file.write_all_at(&[TORN_MARK], mark_at)
                } else {
                    Ok(())
                }
                .and_then(|()| state.file.write_all_at(chunk, at));
                if let Err(e) = written {
                    restore_gap(&state.file, at, len);
                    return Err(AuditError::io("write event to", &self.path, e));
                }
                state.gap_end = at + 1;
            } else {
                self.regrow(&mut state, chunk)?;
            }
            (stamp.timestamp, self.note_write(len))
        };
        self.after_write(seq)?;
        Ok(ts)
    }

    /// With the lock held: makes sure `state` describes the file at the path and where its
    /// gap ends now, clearing what a writer killed mid-event left. Returns the newest
    /// event's timestamp (`None` for an empty log).
    fn locate_gap(&self, state: &mut State) -> Result<Option<Timestamp>, AuditError> {
        if self.still_at_path(state)?.is_none() {
            self.reload_replaced(state)?;
        }
        loop {
            let probed = layout::probe(&state.file, state.gap_end)
                .map_err(|e| AuditError::io("read", &self.path, e))?;
            match probed {
                Probe::GapEnd(newest) => return Ok(newest),
                // Another process wrote event lines into the gap since we last looked.
                Probe::LineBefore(start) => state.gap_end = start,
                Probe::Replaced => self.reload_replaced(state)?,
                Probe::Torn => {
                    if !self.clear_torn_event(state)? {
                        return self.reload_after_foreign_change(state);
                    }
                }
                Probe::Foreign => return self.reload_after_foreign_change(state),
            }
        }
    }

    /// The writer before us died while writing an event that spans pages: its first pages
    /// may be in the gap, from the newline that starts its line up to the mark. Puts spaces
    /// back over them. Returns `false` when the bytes there are not the start of an event
    /// line of ours (someone else edited the gap): the caller then reloads the file.
    fn clear_torn_event(&self, state: &State) -> Result<bool, AuditError> {
        let io_err = |e| AuditError::io("read", &self.path, e);
        let mark_at = state.gap_end - 2;
        let start = match crate::read::rfind_either(&state.file, mark_at, b'\n', REPLACED_MARK)
            .map_err(io_err)?
        {
            Some((at, b'\n')) => at,
            Some(_) => return Ok(false),
            // Killed after the mark, before any of the event was copied.
            None => mark_at,
        };
        if start < mark_at {
            let mut head = [0u8; 1 + EVENT_HEAD.len()];
            let want = ((mark_at - start) as usize).min(head.len());
            let n = read_at_most(&state.file, &mut head[..want], start).map_err(io_err)?;
            let expected = [b"\n".as_slice(), EVENT_HEAD].concat();
            if n < want || head[..n] != expected[..n] {
                return Ok(false);
            }
        }
        let cleared = mark_at + 1 - start;
        let spaces = vec![b' '; cleared as usize];
        state
            .file
            .write_all_at(&spaces, start)
            .map_err(|e| AuditError::io("clear a torn write in", &self.path, e))?;
        // The mark alone means nothing of the event reached the file.
        if start < mark_at {
            self.record(Recovery::torn_write(&self.path, start, mark_at - start));
        }
        Ok(true)
    }

    /// The file at the path is not the one `state` holds (rewritten by another process, or
    /// removed): continue with whatever is at the path now.
    fn reload_replaced(&self, state: &mut State) -> Result<(), AuditError> {
        let fresh = load(&self.ctx(), false)?;
        self.adopt(state, fresh);
        Ok(())
    }

    /// The layout is not what this writer left: someone edited the file in place. Re-read it
    /// from scratch (salvaging if needed) rather than writing into the unknown.
    fn reload_after_foreign_change(
        &self,
        state: &mut State,
    ) -> Result<Option<Timestamp>, AuditError> {
        let fresh = load(&self.ctx(), true)?;
        self.adopt(state, fresh);
        let newest = newest_timestamp(&state.file, state.gap_end, &self.path)?;
        Ok(newest)
    }

    /// The gap is too small for `chunk`: rewrites the file with `[`, a new gap, the chunk and
    /// the existing events, and switches to it.
    fn regrow(&self, state: &mut State, chunk: &[u8]) -> Result<(), AuditError> {
        let old_len = state
            .file
            .metadata()
            .map_err(|e| AuditError::io("inspect", &self.path, e))?
            .len();
        let events_len = old_len.saturating_sub(state.gap_end);
        let gap = gap_for(events_len + chunk.len() as u64);
        // Any temporary here belongs to a writer that died rewriting (we hold the lock); it
        // may be as large as the log, so do not wait for the next open to remove it.
        fs::remove_stale_temps(&self.path);
        let old = state.file.clone();
        let events_at = state.gap_end;
        let mark_at = state.gap_end - 1;
        let file = fs::replace_atomically_then(
            &self.path,
            self.ctx().file_mode,
            |out| {
                out.write_all(b"[")?;
                write_spaces(out, gap)?;
                out.write_all(chunk)?;
                fs::copy_range(&old, events_at, out, events_len)
            },
            // Just before the rename: turn the old gap's final newline into a tab. JSON
            // allows either there, so the old file stays valid; a process still holding it
            // sees the tab in the bytes it reads before its next write and moves to the new
            // file. (If we die between mark and rename, the file at the path merely has a
            // tab where a newline was, and the next writer turns it back.)
            || old.write_all_at(&[REPLACED_MARK], mark_at),
        )
        .inspect_err(|_| {
            // Nothing was replaced: take the mark back if it was made (best effort; a mark
            // left behind is turned back by the next writer).
            let _ = old.write_all_at(b"\n", mark_at);
        })?;
        state.id = FileId::of_file(&file, &self.path)?;
        state.file = Arc::new(file);
        state.gap_end = 1 + gap + 1;
        Ok(())
    }

    /// Counts the events by action and status, reading a consistent snapshot without
    /// holding the lock while reading: events at and after the gap never change in place.
    pub(crate) fn summary(&self) -> Result<LogSummary, AuditError> {
        let (file, first, len) = {
            let mut state = self.state();
            let _guard = self.lock.lock()?;
            self.locate_gap(&mut state)?;
            let len = state
                .file
                .metadata()
                .map_err(|e| AuditError::io("inspect", &self.path, e))?
                .len();
            (state.file.clone(), state.gap_end, len)
        };
        summarize_json_snapshot(ReadAt { file, offset: 0 }, first, len)
    }
}

/// Puts spaces back where a failed write may have left part of an event, so the file stays
/// valid JSON (best effort: the disk that refused the event may refuse this too).
fn restore_gap(file: &File, at: u64, len: u64) {
    if len > 1 {
        let spaces = vec![b' '; (len - 1) as usize];
        let _ = file.write_all_at(&spaces, at);
    }
}

/// With the lock held: opens the log at `ctx.path`, creating, migrating or salvaging it as
/// needed.
fn load(ctx: &Ctx<'_>, verify: bool) -> Result<(State, Option<Recovery>), AuditError> {
    load_checked(ctx, verify, None)
}

/// A log whose events, from its first one to its end, were read and found in our layout
/// without holding the lock. Those bytes never change in place (writers only fill the gap
/// before them, and a rewrite makes a new file), so if the same file with the same length is
/// still at the path under the lock, only its head needs a look.
#[derive(Debug, Clone, Copy)]
struct Checked {
    id: FileId,
    len: u64,
}

/// Without the lock: reads the log from its first event to its end. `None` when anything is
/// not as this crate writes it (or changed meanwhile): the locked path then looks at it all.
fn verify_unlocked(path: &Path) -> Option<Checked> {
    let file = open_regular(path, Access::Read).ok()?;
    let id = FileId::of_file(&file, path).ok()?;
    let len = file.metadata().ok()?.len();
    let layout = quick_layout(&file, len, path).ok()??;
    if layout.repair.is_some() {
        return None;
    }
    let gap_end = layout.gap_end;
    let scan = scan_layout(JsonScanner::inside_array(file, gap_end).limit(len));
    (scan.is_ours() && scan.first_start.is_none_or(|start| start == gap_end))
        .then_some(Checked { id, len })
}

/// [`load`], trusting an earlier [`verify_unlocked`] of the same file.
fn load_checked(
    ctx: &Ctx<'_>,
    verify: bool,
    checked: Option<Checked>,
) -> Result<(State, Option<Recovery>), AuditError> {
    let path = ctx.path;
    let Some((file, len)) = fs::open_existing(path, Access::ReadWrite)? else {
        return Ok((create_empty(ctx)?, None));
    };
    if is_blank(&file, len, path)? {
        // An empty or whitespace-only file holds no events: nothing to keep aside.
        return Ok((create_empty(ctx)?, None));
    }
    let id = FileId::of_file(&file, path)?;
    let mut quick = quick_layout(&file, len, path)?;
    let mut torn = None;
    if let Some(repair) = quick.as_mut().and_then(|layout| layout.repair.take()) {
        torn = repair.apply(&file, path)?;
    }
    let already_checked = checked.is_some_and(|c| c.len == len && c.id == id);
    let (state, recovery) = match quick {
        Some(layout) if !verify || already_checked => (
            State {
                id,
                file: Arc::new(file),
                gap_end: layout.gap_end,
            },
            torn,
        ),
        _ => {
            let (state, recovery) = full_load(ctx, file, len)?;
            (state, recovery.or(torn))
        }
    };
    if let Some(newest) = newest_timestamp(&state.file, state.gap_end, path)? {
        ctx.clock.observe(newest);
    }
    Ok((state, recovery))
}

fn create_empty(ctx: &Ctx<'_>) -> Result<State, AuditError> {
    let file = fs::replace_atomically(ctx.path, ctx.file_mode, |out| {
        out.write_all(b"[")?;
        write_spaces(out, MIN_GAP)?;
        out.write_all(b"\n]\n")
    })?;
    Ok(State {
        id: FileId::of_file(&file, ctx.path)?,
        file: Arc::new(file),
        gap_end: 1 + MIN_GAP + 1,
    })
}

fn is_blank(file: &File, len: u64, path: &Path) -> Result<bool, AuditError> {
    if len > 1024 * 1024 {
        return Ok(false);
    }
    let mut bytes = Vec::with_capacity(len as usize);
    ReadAt { file, offset: 0 }
        .take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| AuditError::io("read", path, e))?;
    Ok(bytes.iter().all(u8::is_ascii_whitespace))
}

/// Reads the whole file. A valid log in our layout is used as it is; a valid log in another
/// layout (the reference's `indent=2`, or with Python's bare NaN tokens) is rewritten into
/// ours; a log that does not parse is kept aside and every complete event in it is carried
/// over.
fn full_load(ctx: &Ctx<'_>, file: File, len: u64) -> Result<(State, Option<Recovery>), AuditError> {
    let path = ctx.path;
    let io_err = |e| AuditError::io("read", path, e);
    let scan = scan_layout(JsonScanner::new(ReadAt {
        file: &file,
        offset: 0,
    }));
    if scan.is_ours() {
        let end = scan.array_end.unwrap_or(len);
        let gap_end = scan.first_start.unwrap_or(end);
        if head_is_gap(&file, gap_end).map_err(io_err)? {
            return Ok((
                State {
                    id: FileId::of_file(&file, path)?,
                    file: Arc::new(file),
                    gap_end,
                },
                None,
            ));
        }
    }
    let (strict, non_finite) = (scan.strict, scan.non_finite);
    let (kind, kept) = match &strict {
        Ok(()) if non_finite == 0 && scan.lone_surrogates == 0 => (RecoveryKind::Relaid, None),
        Ok(()) => (
            RecoveryKind::Relaid,
            Some(fs::keep_aside(path, &file, "original")?),
        ),
        Err(_) => (
            RecoveryKind::Salvaged,
            Some(fs::keep_aside(path, &file, "corrupt")?),
        ),
    };
    let gap = gap_for(len);
    let mut report = None;
    let rewritten = fs::replace_atomically(path, ctx.file_mode, |out| {
        let mut out = io::BufWriter::with_capacity(256 * 1024, out);
        out.write_all(b"[")?;
        write_spaces(&mut out, gap)?;
        let mut first = true;
        let source = ReadAt {
            file: &file,
            offset: 0,
        };
        let salvage = salvage_json(source, |el: JsonElement| -> io::Result<()> {
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            serde_json::to_writer(&mut out, &el.value).map_err(io::Error::other)
        })
        .map_err(salvage_io)?;
        out.write_all(b"\n]\n")?;
        out.flush()?;
        report = Some(salvage);
        Ok(())
    })?;
    let salvage = report.unwrap_or_default();
    let recovery = Recovery {
        kind,
        path: path.to_owned(),
        original_kept_at: kept,
        events_kept: salvage.recovered,
        non_finite_converted: salvage.non_finite_tokens,
        lone_surrogates_replaced: salvage.lone_surrogates,
        problems: salvage.problems.iter().map(ToString::to_string).collect(),
        bytes_cleared: 0,
    };
    Ok((
        State {
            id: FileId::of_file(&rewritten, path)?,
            file: Arc::new(rewritten),
            gap_end: 1 + gap + 1,
        },
        Some(recovery),
    ))
}

/// What a strict pass over a JSON log found, for deciding whether it is in our layout.
struct LayoutScan {
    strict: Result<(), crate::read::ScanError>,
    /// Every element on a line of its own, separated by exactly `,\n`.
    one_per_line: bool,
    non_finite: u64,
    lone_surrogates: u64,
    first_start: Option<u64>,
    last_end: Option<u64>,
    array_end: Option<u64>,
}

impl LayoutScan {
    /// Valid, one event per line, no Python NaN tokens, and `]` right after the last line.
    fn is_ours(&self) -> bool {
        self.strict.is_ok()
            && self.one_per_line
            && self.non_finite == 0
            && self.lone_surrogates == 0
            && self
                .last_end
                .is_none_or(|end| Some(end + 1) == self.array_end)
    }
}

fn scan_layout<R: Read + Seek>(mut scanner: JsonScanner<R>) -> LayoutScan {
    let mut scan = LayoutScan {
        strict: Ok(()),
        one_per_line: true,
        non_finite: 0,
        lone_surrogates: 0,
        first_start: None,
        last_end: None,
        array_end: None,
    };
    loop {
        match scanner.next_event() {
            Ok(Some(el)) => {
                scan.non_finite += u64::from(el.non_finite_tokens);
                scan.lone_surrogates += u64::from(el.lone_surrogates);
                scan.one_per_line &= el.single_line
                    && el.starts_line
                    && scan.last_end.is_none_or(|end| el.start == end + 2);
                scan.first_start.get_or_insert(el.start);
                scan.last_end = Some(el.end);
            }
            Ok(None) => break,
            Err(e) => {
                scan.strict = Err(e);
                break;
            }
        }
    }
    scan.array_end = scanner.array_end();
    scan
}

/// Both ways a salvage pass into a file can fail are I/O errors.
pub(crate) fn salvage_io(e: SalvageError<io::Error>) -> io::Error {
    match e {
        SalvageError::Io(e) | SalvageError::Callback(e) => e,
    }
}
