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
//! When the gap runs low, the file is rewritten once with a gap of 64 KiB plus twice its
//! events (so the file is at most three times its events), to a temporary file that is
//! synced and renamed over the log: a crash at any instant leaves the old or the new file.
//! Rewrites copy O(n) bytes but happen after O(n) bytes of new events, so each event costs
//! O(1) amortised; most events cost a lock, a 43-byte read and one write.
//!
//! No writer waits for that copy. Once half the gap is used (and the events take more than
//! a megabyte), a background thread builds the new file from the events as they are, without
//! the lock: they never change in place. Writers meanwhile fill the rest of the old gap; the
//! thread copies those arrivals too, in rounds, reading only whole lines. The next writer to
//! find the new file ready copies the last few arrivals under the lock and renames it into
//! place. If another process rewrote the log first, the copy is dropped. Smaller logs are
//! rewritten under the lock when the gap is full, which takes a few milliseconds.

//! # Several writers
//! Threads share one handle under a mutex; processes exclude each other with an advisory lock
//! on `.audit_log.json.lock`, a sidecar that is never replaced by us (and is re-created and
//! re-locked if someone else removes it). Under the lock a writer first checks that its
//! handle is still the file at the path (not rotated, removed or replaced: the directory
//! watch of `crate::storage::watch`, and an `lstat` when it reports the name), then reads
//! the bytes around the first event: if another process wrote event lines into
//! the gap since, it reads back over them to the gap's new end; if another process rewrote
//! the file, the old file's gap newline has been turned into a tab (the rewriter's last step
//! before the rename), and the writer moves to the file now at the path. While threads of one
//! process queue for the log, the lock passes from one event to the next without being
//! released (`LockGuard::keep_if`); nobody else can have written then, so the read is
//! skipped.
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::integrity::writer::{Point, Prepared, json_point};
use crate::policy::size_cap;
use crate::storage::encode::{Plain, Record, with_wall_clock};
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
use crate::{AuditError, Durability, Timestamp};

#[derive(Debug)]
pub(crate) struct State {
    file: Arc<File>,
    id: FileId,
    /// Offset of the newest event's `{`, or of the `]` when the log is empty. The byte before
    /// it is the newline that ends the gap. May be stale (too high) when another process
    /// wrote since; [`JsonLog::locate_gap`] corrects it.
    gap_end: u64,
    /// The file's length, read once per file: it does not change until the file is
    /// replaced (events go into the gap, never at the end).
    len: Option<u64>,
    /// The rewrite being built for this file outside the lock, if one is.
    rewrite: Option<RewriteHandle>,
    /// The timestamp of the last event this process wrote into this file, which is the
    /// newest in it as long as the lock was not released since.
    newest: Option<Timestamp>,
    /// With the chain on: the head of the chain and the offset of the event that holds it,
    /// valid while that event is still the newest (`gap_end` is there).
    chain: Option<(u64, Point)>,
}

impl State {
    fn at(file: File, id: FileId, gap_end: u64) -> State {
        State {
            file: Arc::new(file),
            id,
            gap_end,
            len: None,
            rewrite: None,
            newest: None,
            chain: None,
        }
    }
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
        // The chain's content hash is taken here, outside the lock (see `crate::integrity`).
        let mut prepared = self.chain.then(|| Prepared::new(record, false));
        let mut line = match &prepared {
            Some(p) => encode::json_line(b"\n", &p.record(record))?,
            None => encode::json_line(b"\n", record)?,
        };
        // The size cap: the encoder measured the event (its chain link included); only one
        // over it is cut down and encoded again (`policy::size_cap`, whose budget keeps room
        // for the link).
        let capped;
        let capped_record;
        let record = match self.size_limits.json_over(line.bytes.len() + 2) {
            None => record,
            Some(budget) => {
                let limit = self.size_limits.max_event_bytes;
                capped = size_cap::shrink::<Plain>(
                    record,
                    line.bytes.len() + 2,
                    budget - 3,
                    usize::MAX,
                    limit,
                    |r| encode::json_line(b"", r),
                )?;
                capped_record = capped.record(record);
                line = match &mut prepared {
                    Some(p) => {
                        *p = Prepared::new(&capped_record, false);
                        encode::json_line(b"\n", &p.record(&capped_record))?
                    }
                    None => encode::json_line(b"\n", &capped_record)?,
                };
                self.note_truncated();
                &capped_record
            }
        };
        let (ts, seq) = {
            let mut state = self.state_for_event();
            let guard = self.lock.lock()?;
            let before = self
                .chain
                .then(|| (state.id, state.file.clone(), state.gap_end, state.chain));
            let newest = self.locate_gap(&mut state, guard.continued)?;
            let next = match before {
                Some(before) => Some(self.chain_next(&state, newest, before)?),
                None => None,
            };
            let stamp = self.stamp(newest, wanted);
            if let Some(wall_clock) = stamp.wall_clock {
                let details = with_wall_clock(record.details, wall_clock);
                let record = record.with_details(&details);
                line = match &mut prepared {
                    Some(p) => {
                        *p = Prepared::new(&record, false);
                        encode::json_line(b"\n", &p.record(&record))?
                    }
                    None => encode::json_line(b"\n", &record)?,
                };
            }
            line.set_timestamp(stamp.timestamp);
            let link = match (next, &prepared) {
                (Some(next), Some(p)) => {
                    let link = next.link(&stamp.timestamp.to_bytes(), &p.content);
                    p.splice(&mut line, &link, b"\"")
                        .map_err(|e| AuditError::io("chain an event in", &self.path, e))?;
                    Some(link)
                }
                _ => None,
            };
            // The first event of an empty log ends at the `]`; any other precedes an event.
            line.bytes
                .extend_from_slice(if newest.is_some() { b",\n" } else { b"\n" });
            let chunk = &line.bytes;
            let len = chunk.len() as u64;
            self.settle_rewrite(&mut state, len);
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
                self.start_rewrite_if_due(&mut state);
            } else {
                self.regrow(&mut state, chunk)?;
            }
            state.newest = Some(stamp.timestamp);
            if let Some(link) = link {
                state.chain = Some((state.gap_end, Point::Linked(link.head())));
                self.chained(link.head());
            }
            guard.keep_if(self.others_queued());
            (stamp.timestamp, self.note_write(len))
        };
        self.after_write(seq)?;
        Ok(ts)
    }

    /// With the lock held, after [`locate_gap`](Self::locate_gap): the next link of the chain.
    /// `before` is what `state` was before it: when the file changed to an empty one (the log
    /// was rotated or removed), the new file's first link continues the old file's head.
    fn chain_next(
        &self,
        state: &State,
        newest: Option<Timestamp>,
        before: (FileId, Arc<File>, u64, Option<(u64, Point)>),
    ) -> Result<crate::integrity::chain::Next, AuditError> {
        let io_err = |e| AuditError::io("read the chain's head in", &self.path, e);
        let (old_id, old_file, old_gap_end, old_chain) = before;
        let point = match state.chain {
            Some((at, point)) if at == state.gap_end => point,
            _ if newest.is_none() => Point::Empty,
            _ => json_point(&state.file, state.gap_end).map_err(io_err)?,
        };
        let carried = if point == Point::Empty && old_id != state.id {
            match old_head(&old_file, old_gap_end).map_err(io_err)? {
                Point::Linked(head) => Some(head),
                _ => match old_chain {
                    Some((_, Point::Linked(head))) => Some(head),
                    _ => None,
                },
            }
        } else {
            None
        };
        Ok(point.next(carried))
    }

    /// With the lock held: makes sure `state` describes the file at the path and where its
    /// gap ends now, clearing what a writer killed mid-event left. Returns the newest
    /// event's timestamp (`None` for an empty log). `continued`: the lock was held without a
    /// break since this process's last event, so no other writer can have touched the gap
    /// and the file need not be read.
    fn locate_gap(
        &self,
        state: &mut State,
        continued: bool,
    ) -> Result<Option<Timestamp>, AuditError> {
        if !self.still_at_path(state)? {
            self.reload_replaced(state)?;
        } else if continued && let Some(newest) = state.newest {
            return Ok(Some(newest));
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

    /// With the lock held, after an event went into the gap: starts building the next file
    /// in the background once the gap is running low (see [`layout::rewrite_is_due`]).
    fn start_rewrite_if_due(&self, state: &mut State) {
        if state.rewrite.is_some() {
            return;
        }
        let len = match state.len {
            Some(len) => len,
            None => match state.file.metadata() {
                Ok(meta) => *state.len.insert(meta.len()),
                Err(_) => return,
            },
        };
        let content = len.saturating_sub(state.gap_end);
        let remaining = state.gap_end.saturating_sub(2);
        if !layout::rewrite_is_due(remaining, content) {
            return;
        }
        let rewrite = Arc::new(Rewrite {
            source: state.id,
            copied_from: state.gap_end,
            outcome: Mutex::new(None),
            done: Condvar::new(),
            abandoned: AtomicBool::new(false),
        });
        let source = Source {
            file: state.file.clone(),
            path: self.path.clone(),
            file_mode: self.ctx().file_mode,
            len,
        };
        let worker = Arc::clone(&rewrite);
        let spawned = std::thread::Builder::new()
            .name("audit-log-rewrite".to_owned())
            .spawn(move || worker.build(&source, gap_for(content)));
        match spawned {
            Ok(_) => state.rewrite = Some(RewriteHandle(rewrite)),
            // The rewrite is then made under the lock when the gap runs out, as for small
            // logs; nothing is lost but the head start.
            Err(e) => tracing::warn!(
                target: "audit",
                path = %self.path.display(),
                error = %e,
                "cannot start a thread to rewrite the log in the background"
            ),
        }
    }

    /// With the lock held, before an event of `needed` bytes: moves to the file the
    /// background rewrite built once it is ready, waiting for it only when the gap cannot
    /// take the event without it. A failed or outdated rewrite is dropped; when the gap runs
    /// out, [`regrow`](Self::regrow) then rewrites under the lock and reports any error to the
    /// caller.
    fn settle_rewrite(&self, state: &mut State, needed: u64) {
        let Some(RewriteHandle(rewrite)) = &state.rewrite else {
            return;
        };
        let rewrite = Arc::clone(rewrite);
        let outcome = if state.gap_end > needed {
            match rewrite.try_take() {
                Some(outcome) => outcome,
                None => return,
            }
        } else {
            rewrite.wait()
        };
        state.rewrite = None;
        if let Err(e) = outcome.and_then(|built| self.commit_rewrite(state, &rewrite, built)) {
            tracing::warn!(
                target: "audit",
                path = %self.path.display(),
                error = %e,
                "a background rewrite of the log failed; it will be rewritten when its free space runs out"
            );
        }
    }

    /// Under the lock: copies the events written into the old file's gap while the new file
    /// was being built into the new file's gap (just before the events it copied), makes that
    /// durable, marks the old file replaced and renames the new one into place.
    fn commit_rewrite(
        &self,
        state: &mut State,
        rewrite: &Rewrite,
        built: Built,
    ) -> Result<(), AuditError> {
        let (gap_end, copied_from) = (state.gap_end, built.copied_from);
        // Another process rewrote the log meanwhile, or the file changed under us: what was
        // built is a copy of an old version. Dropping it removes it.
        if state.id != rewrite.source || gap_end > copied_from {
            return Ok(());
        }
        let arrived = copied_from - gap_end;
        let Some(new_gap_end) = built.events_at.checked_sub(arrived).filter(|&end| end > 2) else {
            return Ok(());
        };
        let Some(file) = built.replacement.file() else {
            return Ok(());
        };
        let io_err = |e| AuditError::io("rewrite", &self.path, e);
        // The arrivals are whole event lines, `{..},\n` each, the last one ending where the
        // copied events begin; a newline before them ends the new gap.
        file.write_all_at(b"\n", new_gap_end - 1).map_err(io_err)?;
        if arrived > 0 {
            fs::copy_range_at(&state.file, gap_end, file, new_gap_end, arrived).map_err(io_err)?;
        }
        // The bulk of the new file was synced before it was published; what was written
        // since (the arrivals and the newline) needs a sync under the lock only when events
        // are acknowledged once on disk. With `Durability::Written` a power loss may cost
        // events written since the last sync anyway, and whatever of these bytes it loses
        // leaves the synced spaces there: the file stays valid. A process crash loses nothing
        // either way (the page cache survives it).
        let durable = self.durability() == Durability::Synced;
        if durable {
            file.sync_data().map_err(io_err)?;
        }
        let old = state.file.clone();
        let mark_at = gap_end - 1;
        let file = built
            .replacement
            .commit_with(|| old.write_all_at(&[REPLACED_MARK], mark_at), durable)
            .inspect_err(|_| {
                let _ = old.write_all_at(b"\n", mark_at);
            })?;
        let id = FileId::of_file(&file, &self.path)?;
        *state = State::at(file, id, new_gap_end);
        // The old file is no longer at the path; closing its last descriptor frees all its
        // blocks, which takes the closing thread a while for a large log. Not this one.
        let closer = std::thread::Builder::new()
            .name("audit-log-close".to_owned())
            .spawn(move || drop(old));
        if let Err(e) = closer {
            tracing::debug!(target: "audit", error = %e, "closing the old log in this thread");
        }
        Ok(())
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
        let id = FileId::of_file(&file, &self.path)?;
        *state = State::at(file, id, 1 + gap + 1);
        Ok(())
    }

    /// Counts the events by action and status, reading a consistent snapshot without
    /// holding the lock while reading: events at and after the gap never change in place.
    pub(crate) fn summary(&self) -> Result<LogSummary, AuditError> {
        let (file, first, len) = {
            let mut state = self.state();
            let _guard = self.lock.lock()?;
            self.locate_gap(&mut state, false)?;
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

/// The next file of a log, built by a background thread from a copy of the current one's
/// events, while writers go on filling the current one's gap. Events at and after the gap
/// never change in place, so the copy needs no lock; only the events that arrive meanwhile
/// are copied again, under the lock, when the new file takes the path
/// ([`JsonLog::commit_rewrite`]). So no writer waits for a copy of the whole log.
#[derive(Debug)]
struct Rewrite {
    /// The file being copied.
    source: FileId,
    /// Where its events began when the copy started.
    copied_from: u64,
    outcome: Mutex<Option<Result<Built, AuditError>>>,
    done: Condvar,
    /// Set when the log no longer wants this rewrite (it moved to another file, or closed):
    /// the worker then removes what it built.
    abandoned: AtomicBool,
}

/// What the worker needs of the log: the file to copy and how to name and create the new one.
struct Source {
    file: Arc<File>,
    path: PathBuf,
    file_mode: u32,
    len: u64,
}

/// A new file, durable but not yet at the path: `[`, the new gap, then from `events_at` on
/// the old file's events from `copied_from` on.
#[derive(Debug)]
struct Built {
    replacement: fs::Replacement,
    events_at: u64,
    copied_from: u64,
}

/// Events that arrive while the new file is built are copied into it outside the lock too,
/// in rounds, until a round finds less than this: the rest is copied under the lock.
const CATCH_UP_ENOUGH: u64 = 256 * 1024;
const CATCH_UP_ROUNDS: usize = 8;

impl Built {
    /// Copies into the new file the complete event lines written into the old file's gap
    /// since the copy started, without the lock: a writer's chunk lands page by page in
    /// order and ends with the line's last bytes, so a line [`layout::probe`] sees before
    /// the copied events is whole (as `read::Follow` relies on). Stops at anything else (a
    /// torn write, another rewrite); whatever is left is copied under the lock.
    fn catch_up(&mut self, old: &File) {
        for _ in 0..CATCH_UP_ROUNDS {
            let mut from = self.copied_from;
            while let Ok(Probe::LineBefore(start)) = layout::probe(old, from) {
                from = start;
            }
            let arrived = self.copied_from - from;
            let Some(file) = self.replacement.file() else {
                return;
            };
            if arrived < CATCH_UP_ENOUGH || self.events_at < arrived + 3 {
                return;
            }
            let at = self.events_at - arrived;
            let copied =
                fs::copy_range_at(old, from, file, at, arrived).and_then(|()| file.sync_data());
            if copied.is_err() {
                // The commit copies these lines again, over whatever reached the file.
                return;
            }
            self.events_at = at;
            self.copied_from = from;
        }
    }
}

/// The log's hold on a rewrite in progress; dropping it abandons the rewrite.
#[derive(Debug)]
pub(crate) struct RewriteHandle(Arc<Rewrite>);

impl Drop for RewriteHandle {
    fn drop(&mut self) {
        self.0.abandoned.store(true, Ordering::Relaxed);
    }
}

impl Rewrite {
    /// Runs on the worker thread.
    fn build(&self, source: &Source, gap: u64) {
        let copied_from = self.copied_from;
        let events = source.len.saturating_sub(copied_from);
        let built = fs::prepare_replacement(&source.path, source.file_mode, |out| {
            let mut paced = fs::PacedWriter::new(out).stopping_when(&self.abandoned);
            let spaces = vec![b' '; 1 << 20];
            paced.write(b"[")?;
            let mut left = gap;
            while left > 0 {
                let take = left.min(spaces.len() as u64);
                paced.write(&spaces[..take as usize])?;
                left -= take;
            }
            paced.write(b"\n")?;
            paced.copy(&source.file, copied_from, events)
        })
        .map(|replacement| {
            let mut built = Built {
                replacement,
                events_at: 1 + gap + 1,
                copied_from,
            };
            built.catch_up(&source.file);
            built
        });
        if self.abandoned.load(Ordering::Relaxed) {
            // Dropping `built` removes the new file.
            return;
        }
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(built);
        self.done.notify_all();
    }

    /// The outcome, if the worker is done.
    fn try_take(&self) -> Option<Result<Built, AuditError>> {
        self.outcome
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The outcome, waiting for the worker (which needs neither the lock nor the log's state,
    /// so waiting while holding them cannot deadlock).
    fn wait(&self) -> Result<Built, AuditError> {
        let mut outcome = self.outcome.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(outcome) = outcome.take() {
                return outcome;
            }
            outcome = self.done.wait(outcome).unwrap_or_else(|p| p.into_inner());
        }
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
        Some(layout) if !verify || already_checked => (State::at(file, id, layout.gap_end), torn),
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
    let id = FileId::of_file(&file, ctx.path)?;
    Ok(State::at(file, id, 1 + MIN_GAP + 1))
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
                {
                    let id = FileId::of_file(&file, path)?;
                    State::at(file, id, gap_end)
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
    let id = FileId::of_file(&rewritten, path)?;
    Ok((State::at(rewritten, id, 1 + gap + 1), Some(recovery)))
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

/// The newest event of a file that is no longer at the path (rotated or removed), from where
/// its newest event was when this process last looked, back over events written since.
fn old_head(file: &File, mut at: u64) -> io::Result<Point> {
    for _ in 0..1_000_000 {
        match layout::probe(file, at)? {
            Probe::LineBefore(start) => at = start,
            Probe::GapEnd(Some(_)) => return json_point(file, at),
            Probe::GapEnd(None) => return Ok(Point::Empty),
            _ => return Ok(Point::Unchained),
        }
    }
    Ok(Point::Unchained)
}
