//! Following a log as it is written, by this process or any other (`auditlog tail -f`).
//!
//! Each [`Follow::poll`] looks at the path's file identity: a log rewritten by rename (a new
//! inode) or replaced is opened again and read from its start, and only events newer than the
//! last one yielded are yielded. A poll that finds the file mid-write yields nothing and the
//! next one tries again.
//!
//! **JSON** in this crate's layout: new events are whole lines that the writer puts just
//! before the newest event (`\n{event},\n`, ending exactly at it), so the follower keeps the
//! offset of the newest event it has read and its first bytes (which never change in place).
//! A poll asks the layout ([`crate::storage::json::layout::probe`]) what is before that
//! event: the free space means nothing new; event lines are read backwards, line by line,
//! until the free space (or the mark of an event a killed writer left unfinished) is reached
//! again. The cost of a poll is proportional to the new events, not to the free space (which
//! can be larger than the events). The writer copies a line's last two bytes last, so a line
//! seen behind them is complete; each must still parse as an event newer than the one after
//! it. Anything unexpected (the event's first bytes changed, bytes that are not the layout)
//! reads the log again from its newest event, as does a log in another layout (whose changes
//! are seen through its length and modification time).
//!
//! **CSV**: read on from the end of the last complete row, up to a length taken under the
//! writers' lock when there is one; when the file shrinks or is replaced, it is read again
//! from the start.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::snapshot::{LOCK_WAIT, locked_len, newest_json_event};
use super::{CsvEvents, JsonScanner, RecordPosition, ScanError, Snapshot, parse_event};
use crate::storage::fs::{FileId, ReadAt, ReaderLock, read_at_most};
use crate::storage::json::layout::{self, Probe};
use crate::{AuditError, AuditEvent, Format, Timestamp};

/// How many bytes of the newest JSON event the follower keeps to recognise it: its
/// `{"timestamp":"…Z"` and a little more.
const HEAD_BYTES: usize = 64;

/// Yields the events written to a log after it was started, as they are written, in the
/// order they were logged (oldest first), each once: in place, across the rewrites of a JSON
/// log (a new file renamed over the path) and when the file is replaced or re-created.
///
/// [`poll`](Self::poll) never waits: how often to look is the caller's choice.
///
/// ```
/// use audit_runtime::read::Follow;
/// use audit_runtime::{AuditLogger, Format, Status};
/// # let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path()).format(Format::Csv).build()?;
/// logger.log_event("pause", Status::Success, serde_json::json!({}), None)?;
/// let (mut follow, recent) = Follow::start(logger.path().unwrap(), Format::Csv, 10)?;
/// assert_eq!(recent.len(), 1);
/// assert!(follow.poll().is_empty());
/// logger.log_event("resume", Status::Success, serde_json::json!({}), None)?;
/// assert_eq!(follow.poll()[0].action_type, "resume");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Follow {
    path: PathBuf,
    format: Format,
    newest: Option<Timestamp>,
    /// The log as opened last, and its identity.
    open: Option<(Arc<File>, FileId)>,
    /// CSV: where the next row starts (0: read from the start, header first).
    csv_resume: u64,
    /// (length, modification time in ns) at the last complete read: CSV, and JSON logs not
    /// in this crate's layout, are read again only when these change.
    seen: Option<(u64, i64)>,
    /// JSON in this crate's layout: the newest event read.
    json_head: Option<JsonHead>,
    cut_off_end: Option<ScanError>,
}

impl Follow {
    /// Starts following the log at `path`, read as `format`: takes a [`Snapshot`] of it and
    /// returns the follower, positioned after that snapshot, with the snapshot's newest
    /// `recent` events (oldest first), which is what `tail -n <recent> -f` prints first.
    ///
    /// Errors as reading the snapshot does: the file cannot be opened, or is not a valid log
    /// ([`AuditError::Malformed`], naming where). A last CSV row that is cut off is left out
    /// ([`cut_off_end`](Self::cut_off_end) says where) and read once it is complete.
    pub fn start(
        path: impl AsRef<Path>,
        format: Format,
        recent: usize,
    ) -> Result<(Follow, Vec<AuditEvent>), AuditError> {
        let snapshot = Snapshot::take(path, format)?;
        let file = snapshot.file().clone();
        let identity = file.metadata().ok().map(|meta| FileId::of_meta(&meta));
        let mut follow = Follow {
            path: snapshot.path().to_owned(),
            format,
            newest: None,
            open: identity.map(|id| (file.clone(), id)),
            csv_resume: 0,
            seen: None,
            json_head: None,
            cut_off_end: None,
        };
        let recent = match format {
            Format::Csv => follow.start_csv(&snapshot, recent)?,
            _ => {
                let recent = follow.start_json(&snapshot, recent)?;
                follow.json_head = snapshot
                    .newest_event_at()
                    .and_then(|at| JsonHead::read(&file, at));
                recent
            }
        };
        Ok((follow, recent))
    }

    fn start_json(
        &mut self,
        snapshot: &Snapshot,
        recent: usize,
    ) -> Result<Vec<AuditEvent>, AuditError> {
        let mut events = snapshot.events();
        let mut newest_first = Vec::new();
        // At least one: the newest event is what following starts after.
        while newest_first.len() < recent.max(1) {
            let Some(located) = events.next_located() else {
                break;
            };
            let event = located?.event;
            self.newest = self.newest.max(Some(event.timestamp));
            newest_first.push(event);
        }
        newest_first.truncate(recent);
        newest_first.reverse();
        Ok(newest_first)
    }

    fn start_csv(
        &mut self,
        snapshot: &Snapshot,
        recent: usize,
    ) -> Result<Vec<AuditEvent>, AuditError> {
        let mut events = snapshot.events().skip_cut_off_end();
        let mut last: VecDeque<AuditEvent> = VecDeque::with_capacity(recent.min(1 << 16));
        while let Some(located) = events.next_located() {
            let located = located?;
            self.newest = self.newest.max(Some(located.event.timestamp));
            self.csv_resume = located.end;
            if recent > 0 {
                if last.len() == recent {
                    last.pop_front();
                }
                last.push_back(located.event);
            }
        }
        self.cut_off_end = events.cut_off_end().cloned();
        Ok(last.into())
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cut-off last CSV row that [`start`](Self::start) read up to (a row still being
    /// written by a writer that takes no lock, or a file cut short), if there was one.
    pub fn cut_off_end(&self) -> Option<&ScanError> {
        self.cut_off_end.as_ref()
    }

    /// The events written since the last poll (or since [`start`](Self::start)), oldest
    /// first; empty when there are none.
    ///
    /// What may pass (the path missing between a delete and a re-create, a file caught
    /// mid-write, one that cannot be opened or read now) yields nothing now, and the next
    /// poll looks again.
    pub fn poll(&mut self) -> Vec<AuditEvent> {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return Vec::new();
        };
        let at_path = FileId::of_meta(&meta);
        let file = match &self.open {
            Some((file, id)) if *id == at_path => file.clone(),
            _ => {
                let Ok(file) = File::open(&self.path) else {
                    return Vec::new();
                };
                let Ok(id) = FileId::of_file(&file, &self.path) else {
                    return Vec::new();
                };
                let file = Arc::new(file);
                tracing::debug!(target: "audit", path = %self.path.display(),
                    "the followed log was replaced; reading the new file from its start");
                self.open = Some((file.clone(), id));
                self.csv_resume = 0;
                self.seen = None;
                self.json_head = None;
                file
            }
        };
        let fresh = match self.format {
            Format::Csv => self.new_csv(&file),
            _ => self.new_json(&file),
        };
        // A log caught mid-write yields nothing now; the next poll sees it whole.
        let Some(fresh) = fresh else {
            return Vec::new();
        };
        let mut newer = Vec::with_capacity(fresh.len());
        for event in fresh {
            if self.newest.is_none_or(|n| event.timestamp > n) {
                self.newest = Some(event.timestamp);
                newer.push(event);
            }
        }
        newer
    }

    /// Events newer than the newest yielded, oldest first; `None` if the file could not be
    /// read whole now.
    fn new_json(&mut self, file: &Arc<File>) -> Option<Vec<AuditEvent>> {
        if let Some(head) = &self.json_head {
            match new_lines_before(file, head, self.newest) {
                Before::Nothing => return Some(Vec::new()),
                Before::Fresh(fresh, head) => {
                    self.json_head = Some(head);
                    return Some(fresh);
                }
                Before::Rescan => self.json_head = None,
            }
        } else {
            // Not this layout (or not known yet): read again only when the file changed.
            let stamp = stamp(file);
            if stamp.is_some() && stamp == self.seen {
                return Some(Vec::new());
            }
            self.seen = stamp;
        }
        let rescanned = self.rescan_json(file);
        if rescanned.is_none() {
            self.seen = None;
        }
        rescanned
    }

    /// Reads the JSON log from its newest event to the first event already yielded.
    fn rescan_json(&mut self, file: &Arc<File>) -> Option<Vec<AuditEvent>> {
        let lock = ReaderLock::open(&self.path);
        let (newest_at, _) = newest_json_event(file, lock.as_ref(), LOCK_WAIT);
        let reader = ReadAt {
            file: file.clone(),
            offset: 0,
        };
        let mut scanner = match newest_at {
            Some(at) => JsonScanner::inside_array(reader, at),
            None => JsonScanner::new(reader),
        };
        let mut fresh = Vec::new();
        let mut head = None;
        loop {
            match scanner.next_parsed() {
                Ok(Some(parsed)) => {
                    head.get_or_insert(parsed.start);
                    if self.newest.is_some_and(|n| parsed.event.timestamp <= n) {
                        break;
                    }
                    fresh.push(parsed.event);
                }
                Ok(None) => break,
                Err(_) => return None,
            }
        }
        self.json_head = head
            .or(scanner.array_end())
            .and_then(|at| JsonHead::read(file, at));
        fresh.reverse();
        Some(fresh)
    }

    fn new_csv(&mut self, file: &Arc<File>) -> Option<Vec<AuditEvent>> {
        let stamp = stamp(file);
        if stamp.is_some() && stamp == self.seen {
            return Some(Vec::new());
        }
        let len = stamp.map_or(0, |(len, _)| len);
        if len < self.csv_resume {
            self.csv_resume = 0;
        }
        // Up to a row boundary when the writers' lock can be had; otherwise to the end, and
        // a row still being written is read again next time.
        let end = ReaderLock::open(&self.path).and_then(|lock| locked_len(&lock, file, LOCK_WAIT));
        let reader = ReadAt {
            file: file.clone(),
            offset: self.csv_resume,
        }
        .take(end.map_or(u64::MAX, |end| end.saturating_sub(self.csv_resume)));
        let mut rows = if self.csv_resume == 0 {
            CsvEvents::new(reader)
        } else {
            let at = RecordPosition {
                byte: self.csv_resume,
                line: 0,
            };
            CsvEvents::starting_at(reader, at)
        };
        let mut fresh = Vec::new();
        let mut complete = true;
        while let Some(row) = rows.next() {
            let Ok((_, event)) = row else {
                // Most likely a row being written; read it again next time.
                complete = false;
                break;
            };
            match rows.last_end() {
                Some((end, true)) => self.csv_resume = end,
                _ => {
                    complete = false;
                    break;
                }
            }
            fresh.push(event);
        }
        // Read again next time unless everything up to the length noted was taken.
        self.seen = stamp.filter(|&(len, _)| complete && end.is_none_or(|end| end == len));
        Some(fresh)
    }
}

/// (length, modification time in ns) of the open file, `None` if it cannot be had.
fn stamp(file: &File) -> Option<(u64, i64)> {
    let meta = file.metadata().ok()?;
    Some((meta.len(), meta.mtime() * 1_000_000_000 + meta.mtime_nsec()))
}

/// Where the newest event of a JSON log in this crate's layout is (or the `]` of an empty
/// one), and its first bytes, which never change in place.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JsonHead {
    at: u64,
    bytes: Vec<u8>,
}

impl JsonHead {
    /// The head at `at`, if the layout says an event line or the `]` line starts there.
    fn read(file: &File, at: u64) -> Option<JsonHead> {
        match layout::probe(file, at).ok()? {
            Probe::GapEnd(_) | Probe::LineBefore(_) | Probe::Torn => {}
            Probe::Replaced | Probe::Foreign => return None,
        }
        let mut bytes = vec![0u8; HEAD_BYTES];
        let n = read_at_most(file, &mut bytes, at).ok()?;
        bytes.truncate(n);
        (n > 0).then_some(JsonHead { at, bytes })
    }

    /// Whether the event at `at` still starts with the bytes noted.
    fn unchanged(&self, file: &File) -> bool {
        let mut now = vec![0u8; self.bytes.len()];
        read_at_most(file, &mut now, self.at).ok() == Some(now.len()) && now == self.bytes
    }
}

/// What a look before the newest known JSON event found.
enum Before {
    /// The free space: nothing new.
    Nothing,
    /// New events, oldest first, and the new head.
    Fresh(Vec<AuditEvent>, JsonHead),
    /// Not what the writer leaves: read the log again.
    Rescan,
}

/// Reads the event lines written before `head` since it was the newest event, back to the
/// free space.
fn new_lines_before(file: &File, head: &JsonHead, newest: Option<Timestamp>) -> Before {
    if !head.unchanged(file) {
        return Before::Rescan;
    }
    let mut at = head.at;
    let mut fresh: Vec<AuditEvent> = Vec::new();
    loop {
        let start = match layout::probe(file, at) {
            // A writer that died writing an event left the torn mark: what is before it is
            // not an event (the next write clears it).
            Ok(Probe::GapEnd(_) | Probe::Torn) => break,
            Ok(Probe::LineBefore(start)) => start,
            Ok(Probe::Replaced | Probe::Foreign) | Err(_) => return Before::Rescan,
        };
        // The line is `{event},` (or `{event}` before the `]`), then the newline before `at`.
        let Ok(len) = usize::try_from(at.saturating_sub(start + 1)) else {
            return Before::Rescan;
        };
        let mut line = vec![0u8; len];
        if read_at_most(file, &mut line, start).ok() != Some(len) {
            return Before::Rescan;
        }
        if line.last() == Some(&b',') {
            line.pop();
        }
        let Ok(event) = parse_event(&line) else {
            return Before::Rescan;
        };
        // Each line up is newer than the one below it, and than everything yielded.
        let older = fresh.last().map(|e| e.timestamp).or(newest);
        if older.is_some_and(|o| event.timestamp <= o) {
            return Before::Rescan;
        }
        fresh.push(event);
        at = start;
    }
    if fresh.is_empty() {
        return Before::Nothing;
    }
    match JsonHead::read(file, at) {
        Some(head) => Before::Fresh(fresh, head),
        None => Before::Rescan,
    }
}
