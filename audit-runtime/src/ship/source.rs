//! Reading a log after a position, oldest first, in batches of bounded size: what the shipper
//! sends next.
//!
//! A position is the number of events already shipped (`seq`: events are numbered 1, 2, …
//! oldest first, which never changes because a log only grows) and the [`Mark`] of the last
//! one (its timestamp and a fingerprint of its content), so that the same event can be found
//! again in a file that was rewritten, and a different log at the same path (rotated,
//! removed and started again) is recognised as one.
//!
//! - **JSON in this crate's layout**: new events are whole lines put just before the newest
//!   one, so the events after the last shipped one are the lines before its line, read
//!   backwards one at a time, oldest first: memory is one batch, the work is the new lines.
//!   When the path holds another file (a rewrite renamed over it), what is left of the old
//!   file is read first, then the last shipped event is looked up in the new one.
//! - **CSV**: rows after the end of the last shipped one, up to a length taken under the
//!   writers' lock (a row boundary).
//! - **JSON in another layout** (the reference's `indent=2` file, which it rewrites whole for
//!   every event): counted, then read again for the oldest unshipped events, each time it
//!   changes. Such logs are small (the reference's cost per event grows with the log).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::db::LogIdentity;
use crate::read::snapshot::{LOCK_WAIT, locked_len};
use crate::read::{CsvEvents, RecordPosition, Snapshot, parse_event};
use crate::storage::fs::{FileId, ReadAt, ReaderLock, read_at_most};
use crate::storage::json::layout::{self, Probe};
use crate::{AuditError, AuditEvent, Format, Timestamp};

/// How many bytes of the last shipped JSON line are kept to see that it is still there.
const HEAD_BYTES: usize = 64;

/// What identifies an event when it is looked for again: its timestamp and a hash of its
/// content (FNV-1a of its compact JSON, enough to tell events apart; not a security
/// measure, the database's key is the sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Mark {
    pub(crate) timestamp: Timestamp,
    pub(crate) fingerprint: u64,
}

impl Mark {
    pub(crate) fn of(event: &AuditEvent) -> Mark {
        let bytes = serde_json::to_vec(event).unwrap_or_default();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Mark {
            timestamp: event.timestamp,
            fingerprint: hash,
        }
    }
}

/// How far shipping has come in one log: what the cursor file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// The log's id (`None` until its first event is seen: it is derived from it).
    pub(crate) log_id: Option<String>,
    /// Events shipped: the last one shipped is number `seq`.
    pub(crate) seq: u64,
    /// The last one shipped.
    pub(crate) last: Option<Mark>,
}

/// An event as its row: every column as PostgreSQL takes it.
#[derive(Debug, Clone)]
pub(crate) struct Shippable {
    pub(crate) seq: i64,
    pub(crate) timestamp: String,
    pub(crate) action_type: String,
    pub(crate) status: String,
    pub(crate) details: String,
    pub(crate) error: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) at: Timestamp,
}

impl Shippable {
    /// The row for the event numbered `seq`. PostgreSQL's text cannot hold the NUL
    /// character (and `jsonb` refuses `\u0000`), so a NUL is stored as U+FFFD, the
    /// replacement character: an event that cannot be stored as it is must still not stop
    /// every event after it.
    pub(crate) fn new(seq: u64, event: &AuditEvent) -> Shippable {
        let text = |s: &str| {
            if s.contains('\0') {
                s.replace('\0', "\u{fffd}")
            } else {
                s.to_owned()
            }
        };
        let details = Value::Object(event.details.clone());
        let mut json = details.to_string();
        if json.contains("\\u0000") {
            json = without_nul(&details).to_string();
        }
        let field = |key: &str| event.details.get(key).map(|v| text(&display_name(v)));
        Shippable {
            seq: i64::try_from(seq).unwrap_or(i64::MAX),
            timestamp: event.timestamp.to_string(),
            action_type: text(&event.action_type),
            status: text(event.status.as_str()),
            details: json,
            error: event.error.as_deref().map(text),
            actor: field("actor"),
            request_id: field("request_id"),
            at: event.timestamp,
        }
    }
}

/// How an actor (or a request id) is shown and filtered on: a string as it is; an object by
/// its `name`, `id`, `user` or `peer` field; anything else as compact JSON (as `auditlog
/// summary` names actors).
pub(crate) fn display_name(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(map) => ["name", "id", "user", "peer"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .map_or_else(|| value.to_string(), str::to_owned),
        other => other.to_string(),
    }
}

fn without_nul(value: &Value) -> Value {
    let clean = |s: &str| s.replace('\0', "\u{fffd}");
    match value {
        Value::String(s) => Value::String(clean(s)),
        Value::Array(items) => Value::Array(items.iter().map(without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (clean(k), without_nul(v)))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

/// What one read found.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The log the events belong to.
    pub(crate) log: LogIdentity,
    /// The events, oldest first, numbered.
    pub(crate) events: Vec<Shippable>,
    /// The position once they are shipped.
    pub(crate) after: Position,
    /// Whether nothing more was there when it was read.
    pub(crate) caught_up: bool,
}

/// Who ships the log, for its identity.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) host: String,
    pub(crate) root_log_dir: String,
    pub(crate) experiment: String,
}

impl Origin {
    /// The log's id: a hash of the host, the directory and the oldest event, so that the
    /// same log shipped again (its cursor lost, or by a second shipper) gets the same id, and
    /// a new log at the same path (rotated) or a copy of the directory elsewhere gets another.
    fn log_id(&self, oldest: &AuditEvent) -> String {
        let mut hash = Sha256::new();
        hash.update(self.host.as_bytes());
        hash.update([0]);
        hash.update(self.root_log_dir.as_bytes());
        hash.update([0]);
        hash.update(serde_json::to_vec(oldest).unwrap_or_default());
        let digest = hash.finalize();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The file being read and where in it.
enum Open {
    /// JSON in this crate's layout.
    Lines {
        file: Arc<File>,
        id: FileId,
        /// Where the line of the last event read starts (or the `]` line, before any).
        at: u64,
        /// Its first bytes, to see that it is still there.
        head: Vec<u8>,
        /// The newest line counted, and its number (for the lag).
        newest_at: u64,
        newest_seq: u64,
    },
    /// CSV.
    Rows {
        file: Arc<File>,
        id: FileId,
        /// Where the row after the last one read starts (0: the header comes first).
        next: u64,
        /// The end of the last row counted, and its number (for the lag).
        counted_end: u64,
        newest_seq: u64,
    },
    /// JSON in another layout, read whole each time it changes.
    Whole {
        stamp: Option<(u64, i64, u64)>,
        total: u64,
    },
}

/// One log, read after a position.
pub(crate) struct Source {
    path: PathBuf,
    format: Format,
    origin: Origin,
    position: Position,
    open: Option<Open>,
    /// Set when a read found nothing because the log could not be read whole now (caught
    /// mid-rewrite, mid-write by a writer without a lock): not the same as nothing new.
    later: bool,
}

/// What [`Source::next_batch`] found.
#[derive(Debug)]
pub(crate) enum Next {
    /// Events to ship.
    Batch(Batch),
    /// Nothing after the position: everything in the log is shipped.
    CaughtUp,
    /// Nothing now, but the log could not be read whole: look again soon.
    Later,
}

impl Source {
    /// Reads the log at `path` (as `format`) after `position` (the cursor file's, or the
    /// start).
    pub(crate) fn new(path: &Path, format: Format, origin: Origin, position: Position) -> Source {
        Source {
            path: path.to_owned(),
            format,
            origin,
            position,
            open: None,
            later: false,
        }
    }

    /// Nothing now, for a reason that passes: [`Next::Later`].
    fn later(&mut self) -> Result<Vec<AuditEvent>, AuditError> {
        self.later = true;
        Ok(Vec::new())
    }

    /// Where reading has come (the end of the last batch returned).
    pub(crate) fn position(&self) -> &Position {
        &self.position
    }

    fn identity_of(&self, log_id: &str) -> LogIdentity {
        LogIdentity {
            log_id: log_id.to_owned(),
            host: self.origin.host.clone(),
            root_log_dir: self.origin.root_log_dir.clone(),
            experiment: self.origin.experiment.clone(),
        }
    }

    /// Events in the log as of the last look (its newest event's number).
    pub(crate) fn newest_seq(&self) -> u64 {
        let newest = match &self.open {
            Some(Open::Lines { newest_seq, .. } | Open::Rows { newest_seq, .. }) => *newest_seq,
            Some(Open::Whole { total, .. }) => *total,
            None => 0,
        };
        newest.max(self.position.seq)
    }

    /// Starts again from the beginning of the log, as a log never shipped (the database has
    /// fewer of its events than the cursor says: restored from a backup, or emptied).
    pub(crate) fn restart_from_scratch(&mut self) {
        self.position.seq = 0;
        self.position.last = None;
        self.open = None;
    }

    /// The next events after the position, at most `max`, oldest first. The position moves
    /// past them (the caller ships them before asking again). An empty batch is not an
    /// error: nothing new, or the file is caught mid-write by a writer that takes no lock.
    pub(crate) fn next_batch(&mut self, max: usize) -> Result<Next, AuditError> {
        let max = max.max(1);
        self.later = false;
        if !self.path.exists() {
            // Removed (a new log starts at the next event): nothing to ship now.
            return Ok(Next::CaughtUp);
        }
        let events = match self.format {
            Format::Csv => self.next_rows(max)?,
            _ => self.next_json(max)?,
        };
        let caught_up = events.len() < max && !self.later;
        if events.is_empty() {
            return Ok(if self.later {
                Next::Later
            } else {
                Next::CaughtUp
            });
        }
        let first_seq = self.position.seq + 1;
        let log_id = match &self.position.log_id {
            Some(id) => id.clone(),
            // The first event of a log never shipped is its oldest.
            None => self.origin.log_id(&events[0]),
        };
        let shippable: Vec<Shippable> = events
            .iter()
            .enumerate()
            .map(|(i, e)| Shippable::new(first_seq + i as u64, e))
            .collect();
        self.position = Position {
            log_id: Some(log_id.clone()),
            seq: self.position.seq + events.len() as u64,
            last: events.last().map(Mark::of),
        };
        Ok(Next::Batch(Batch {
            log: self.identity_of(&log_id),
            events: shippable,
            after: self.position.clone(),
            caught_up,
        }))
    }

    /// A different log now at the path: numbered from 1 under a new id.
    fn new_log(&mut self, why: &str) {
        if self.position.seq > 0 {
            tracing::warn!(
                target: "audit",
                path = %self.path.display(),
                "the log no longer holds the last event shipped (number {}, at {}): {why}; \
                 shipping what is there as a new log",
                self.position.seq,
                self.position.last.map(|m| m.timestamp.to_string()).unwrap_or_default(),
            );
        }
        self.position = Position {
            log_id: None,
            seq: 0,
            last: None,
        };
    }

    // ----- JSON -----

    fn next_json(&mut self, max: usize) -> Result<Vec<AuditEvent>, AuditError> {
        let identity = match std::fs::metadata(&self.path) {
            Ok(meta) => FileId::of_meta(&meta),
            Err(_) => return self.later(),
        };
        let seq = self.position.seq;
        let (events, end, same_file) = match &mut self.open {
            Some(Open::Lines {
                file,
                id,
                at,
                head,
                newest_at,
                newest_seq,
            }) => {
                let file = file.clone();
                let walk = walk_back(&file, *at, head, max);
                if let Some((last_at, _)) = walk.events.last() {
                    *at = *last_at;
                    *head = head_bytes(&file, *at);
                }
                let read = walk.events.len() as u64;
                // The cursor may have passed the lines counted for the lag.
                if seq + read >= *newest_seq {
                    *newest_at = *at;
                    *newest_seq = seq + read;
                }
                let same_file = *id == identity;
                if walk.end != WalkEnd::Replaced && same_file {
                    let (counted, end) = count_back(&file, *newest_at);
                    *newest_at = end;
                    *newest_seq += counted;
                }
                let events: Vec<AuditEvent> = walk.events.into_iter().map(|(_, e)| e).collect();
                (events, walk.end, same_file)
            }
            Some(Open::Whole { .. }) => return self.next_whole(max),
            _ => return self.locate_json(max),
        };
        if !events.is_empty() {
            // Whatever ended the walk is dealt with at the next call; only the free space of
            // the file at the path means that nothing more is there now.
            if end != WalkEnd::Gap || !same_file {
                self.later = true;
            }
            return Ok(events);
        }
        match end {
            WalkEnd::Gap | WalkEnd::More if same_file => Ok(events),
            // The old file is read to its end (a rewrite renamed another over the path, or
            // the log was rotated), or it is not what it was: find the last shipped event in
            // the file now at the path.
            _ => {
                self.open = None;
                self.locate_json(max)
            }
        }
    }

    /// Opens the JSON log at the path and finds the position in it: the last shipped
    /// event's line (or, for a log never shipped, the `]` line), or, in another layout,
    /// reads it whole.
    fn locate_json(&mut self, max: usize) -> Result<Vec<AuditEvent>, AuditError> {
        let snapshot = match Snapshot::take(&self.path, Format::Json) {
            Ok(snapshot) => snapshot,
            Err(_) => return self.later(),
        };
        let file = snapshot.file().clone();
        let Some(newest) = snapshot.newest_event_at() else {
            self.open = Some(Open::Whole {
                stamp: None,
                total: 0,
            });
            return self.next_whole(max);
        };
        let probed = layout::probe(&file, newest);
        if matches!(probed, Ok(Probe::Replaced)) {
            // Caught between a rewrite's mark and its rename: look again at the next poll.
            return self.later();
        }
        if !matches!(probed, Ok(Probe::GapEnd(_) | Probe::Torn)) {
            self.open = Some(Open::Whole {
                stamp: None,
                total: 0,
            });
            return self.next_whole(max);
        }
        let id = match file.metadata() {
            Ok(meta) => FileId::of_meta(&meta),
            Err(_) => return self.later(),
        };
        // Newest first, counting, down to the last shipped event (or to the end).
        let mut events = snapshot.events();
        let mut newer = 0u64;
        let mut found = None;
        let mut oldest: Option<(u64, AuditEvent)> = None;
        while let Some(located) = events.next_located() {
            let Ok(located) = located else {
                // Damaged or mid-rewrite: look again at the next poll.
                return self.later();
            };
            if let Some(mark) = self.position.last
                && located.event.timestamp == mark.timestamp
                && Mark::of(&located.event) == mark
            {
                found = Some(located.offset);
                break;
            }
            newer += 1;
            oldest = Some((located.offset, located.event));
        }
        let at = match (self.position.last, found) {
            (Some(_), Some(at)) => at,
            (None, _) => match snapshot_array_end(&file, oldest.as_ref().map(|o| o.0), newest) {
                Some(end) => end,
                None => return self.later(),
            },
            (Some(_), None) => {
                self.new_log("it was rotated, replaced or removed");
                match snapshot_array_end(&file, oldest.as_ref().map(|o| o.0), newest) {
                    Some(end) => end,
                    None => return self.later(),
                }
            }
        };
        self.open = Some(Open::Lines {
            head: head_bytes(&file, at),
            file: file.clone(),
            id,
            at,
            newest_at: newest,
            newest_seq: self.position.seq + newer,
        });
        self.next_json(max)
    }

    /// A JSON log in another layout: read whole when it changed.
    fn next_whole(&mut self, max: usize) -> Result<Vec<AuditEvent>, AuditError> {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return self.later();
        };
        let stamp = Some((
            meta.len(),
            meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            meta.ino(),
        ));
        if let Some(Open::Whole { stamp: seen, total }) = &self.open
            && *seen == stamp
            && *total <= self.position.seq
        {
            return Ok(Vec::new());
        }
        let snapshot = match Snapshot::take(&self.path, Format::Json) {
            Ok(snapshot) => snapshot,
            Err(_) => return self.later(),
        };
        if let Some(newest) = snapshot.newest_event_at()
            && matches!(
                layout::probe(snapshot.file(), newest),
                Ok(Probe::GapEnd(_) | Probe::Torn)
            )
        {
            // Now in this crate's layout (a logger continued the reference's file and relaid
            // it): read it line by line from the next poll on.
            self.open = None;
            return self.later();
        }
        // Pass 1: how many events.
        let mut total = 0u64;
        for event in snapshot.events() {
            if event.is_err() {
                // Caught while the writer rewrites it (the reference truncates and writes):
                // look again next time.
                return self.later();
            }
            total += 1;
        }
        if total < self.position.seq {
            self.new_log("it holds fewer events than were shipped");
        }
        // Pass 2: stored newest first, so the unshipped are the first `total - seq`, and the
        // last shipped is the one after them.
        let unshipped = total - self.position.seq;
        let skip = unshipped.saturating_sub(max as u64);
        let mut wanted = Vec::new();
        for (index, event) in snapshot.events().enumerate() {
            let Ok(event) = event else {
                return self.later();
            };
            let index = index as u64;
            if index < skip {
                continue;
            }
            if index < unshipped {
                wanted.push(event);
                continue;
            }
            if let Some(mark) = self.position.last
                && Mark::of(&event) != mark
            {
                self.new_log("it was replaced");
                self.open = None;
                return self.later();
            }
            break;
        }
        wanted.reverse();
        self.open = Some(Open::Whole { stamp, total });
        Ok(wanted)
    }

    // ----- CSV -----

    fn next_rows(&mut self, max: usize) -> Result<Vec<AuditEvent>, AuditError> {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return self.later();
        };
        let identity = FileId::of_meta(&meta);
        let Some(Open::Rows {
            file,
            id,
            next,
            counted_end,
            newest_seq,
        }) = &mut self.open
        else {
            return self.locate_rows(max);
        };
        let file = file.clone();
        let changed = *id != identity || meta.len() < *next;
        let end = if changed {
            // What the old file holds is complete (nobody writes it any more).
            file.metadata().map_or(*next, |m| m.len())
        } else {
            locked_end(&self.path, &file)
        };
        let (rows, after) = read_rows(&file, *next, end, max);
        *next = after;
        let read = rows.len() as u64;
        if self.position.seq + read >= *newest_seq {
            *counted_end = after;
            *newest_seq = self.position.seq + read;
        }
        if !changed {
            let (counted, counted_to) = count_rows(&file, *counted_end, end);
            *counted_end = counted_to;
            *newest_seq += counted;
        }
        if rows.is_empty() && changed {
            self.open = None;
            return self.locate_rows(max);
        }
        if changed {
            // The rest of the old file, then the new one: not caught up yet.
            self.later = true;
        }
        Ok(rows)
    }

    /// Opens the CSV log at the path and finds the row after the last shipped one.
    fn locate_rows(&mut self, max: usize) -> Result<Vec<AuditEvent>, AuditError> {
        let Ok(file) = File::open(&self.path) else {
            return self.later();
        };
        let Ok(id) = FileId::of_file(&file, &self.path) else {
            return self.later();
        };
        let file = Arc::new(file);
        let end = locked_end(&self.path, &file);
        let mut next = 0;
        let mut seen = 0u64;
        if let Some(mark) = self.position.last {
            let mut rows = CsvEvents::new(ReadAt {
                file: file.clone(),
                offset: 0,
            });
            let mut found = false;
            while let Some(Ok((_, event))) = rows.next() {
                if rows.last_end().is_some_and(|(e, _)| e > end) {
                    break;
                }
                seen += 1;
                if event.timestamp == mark.timestamp && Mark::of(&event) == mark {
                    next = rows.last_end().map_or(0, |(e, _)| e);
                    found = true;
                    break;
                }
            }
            if !found {
                self.new_log("it was rotated, replaced or removed");
                next = 0;
            } else if seen != self.position.seq {
                tracing::debug!(target: "audit", path = %self.path.display(),
                    "the last shipped row is number {seen}, the cursor says {}", self.position.seq);
            }
        }
        let (counted, counted_end) = count_rows(&file, next, end);
        self.open = Some(Open::Rows {
            file,
            id,
            next,
            counted_end,
            newest_seq: self.position.seq + counted,
        });
        self.next_rows(max)
    }
}

/// The `]` line of a JSON log in this crate's layout: after the oldest event's line (or the
/// newest event's position in an empty log, which is the `]` itself).
fn snapshot_array_end(file: &File, oldest_at: Option<u64>, newest: u64) -> Option<u64> {
    let Some(oldest_at) = oldest_at else {
        return Some(newest);
    };
    // The oldest line is `{…}\n` and the `]` starts the next line.
    let mut at = oldest_at;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = read_at_most(file, &mut buf, at).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Some(at + i as u64 + 1);
        }
        at += n as u64;
    }
}

fn head_bytes(file: &File, at: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; HEAD_BYTES];
    let n = read_at_most(file, &mut bytes, at).unwrap_or(0);
    bytes.truncate(n);
    bytes
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WalkEnd {
    /// Stopped at `max`: there may be more.
    More,
    /// Reached the free space: nothing newer now.
    Gap,
    /// Reached the mark of a rewrite: the file was replaced.
    Replaced,
    /// Not this layout (or the line read is not what it was).
    Foreign,
}

struct Walk {
    /// Line starts and events, oldest first.
    events: Vec<(u64, AuditEvent)>,
    end: WalkEnd,
}

/// The event lines before the line at `at`, read backwards (so oldest first), at most `max`.
/// A line behind its final bytes is complete (a write is copied into the file in order and
/// ends with them); each must still parse.
fn walk_back(file: &File, at: u64, head: &[u8], max: usize) -> Walk {
    let mut walk = Walk {
        events: Vec::new(),
        end: WalkEnd::More,
    };
    if head_bytes(file, at) != head {
        walk.end = WalkEnd::Foreign;
        return walk;
    }
    let mut at = at;
    while walk.events.len() < max {
        let start = match layout::probe(file, at) {
            Ok(Probe::GapEnd(_) | Probe::Torn) => {
                walk.end = WalkEnd::Gap;
                return walk;
            }
            Ok(Probe::LineBefore(start)) => start,
            Ok(Probe::Replaced) => {
                walk.end = WalkEnd::Replaced;
                return walk;
            }
            Ok(Probe::Foreign) | Err(_) => {
                walk.end = WalkEnd::Foreign;
                return walk;
            }
        };
        let Ok(len) = usize::try_from(at.saturating_sub(start + 1)) else {
            walk.end = WalkEnd::Foreign;
            return walk;
        };
        let mut line = vec![0u8; len];
        if read_at_most(file, &mut line, start).ok() != Some(len) {
            walk.end = WalkEnd::Foreign;
            return walk;
        }
        if line.last() == Some(&b',') {
            line.pop();
        }
        let Ok(event) = parse_event(&line) else {
            walk.end = WalkEnd::Foreign;
            return walk;
        };
        walk.events.push((start, event));
        at = start;
    }
    walk
}

/// Counts the event lines before `at` back to the free space, without reading them as
/// events: how many there are to ship (the lag), as of now.
fn count_back(file: &File, at: u64) -> (u64, u64) {
    let mut at = at;
    let mut count = 0;
    while let Ok(Probe::LineBefore(start)) = layout::probe(file, at) {
        count += 1;
        at = start;
    }
    (count, at)
}

/// Where the CSV rows end now: the length under the writers' lock (a row boundary), or the
/// file's length without one (a row cut off there is read again later).
fn locked_end(path: &Path, file: &File) -> u64 {
    ReaderLock::open(path)
        .and_then(|lock| locked_len(&lock, file, LOCK_WAIT))
        .or_else(|| file.metadata().ok().map(|m| m.len()))
        .unwrap_or(0)
}

/// Rows from `from` (0: the header first) up to `end`, at most `max`; and where the row
/// after them starts. A row without its line break is left for later (it may be being
/// written by a writer that takes no lock).
fn read_rows(file: &Arc<File>, from: u64, end: u64, max: usize) -> (Vec<AuditEvent>, u64) {
    let mut rows = csv_rows(file, from, end);
    let mut events = Vec::new();
    let mut next = from;
    while events.len() < max {
        let Some(Ok((_, event))) = rows.next() else {
            break;
        };
        match rows.last_end() {
            Some((row_end, true)) => next = row_end,
            _ => break,
        }
        events.push(event);
    }
    if events.is_empty() && from == 0 {
        // Only the header so far: start after it next time (read again from 0 is fine too).
        return (events, 0);
    }
    (events, next)
}

fn count_rows(file: &Arc<File>, from: u64, end: u64) -> (u64, u64) {
    let mut rows = csv_rows(file, from, end);
    let mut count = 0;
    let mut counted_to = from;
    while let Some(Ok(_)) = rows.next() {
        match rows.last_end() {
            Some((row_end, true)) => counted_to = row_end,
            _ => break,
        }
        count += 1;
    }
    (count, counted_to)
}

fn csv_rows(file: &Arc<File>, from: u64, end: u64) -> CsvEvents<std::io::Take<ReadAt<Arc<File>>>> {
    let reader = ReadAt {
        file: file.clone(),
        offset: from,
    }
    .take(end.saturating_sub(from));
    if from == 0 {
        CsvEvents::new(reader)
    } else {
        CsvEvents::starting_at(
            reader,
            RecordPosition {
                byte: from,
                line: 0,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, details: Value, error: Option<&str>) -> AuditEvent {
        AuditEvent {
            timestamp: Timestamp::from_micros(1_779_892_200_000_000),
            action_type: action.to_owned(),
            status: crate::Status::Failed.into(),
            details: details.as_object().cloned().unwrap_or_default(),
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn rows_hold_no_nul_and_name_actors_as_the_summary_does() {
        let e = event(
            "tag\0add",
            serde_json::json!({"a\0": ["x\0y", {"k": "\0"}], "actor": {"name": "alice", "peer": "p"},
                               "request_id": "r-1", "lit": "\\u0000"}),
            Some("bad\0"),
        );
        let row = Shippable::new(7, &e);
        assert_eq!(row.seq, 7);
        assert_eq!(row.action_type, "tag\u{fffd}add");
        assert_eq!(row.error.as_deref(), Some("bad\u{fffd}"));
        assert!(!row.details.contains("\\u0000") || row.details.contains("\\\\u0000"));
        let details: Value = serde_json::from_str(&row.details).unwrap();
        assert_eq!(details["a\u{fffd}"][0], "x\u{fffd}y");
        // A backslash followed by u0000 is text, not a NUL: kept.
        assert_eq!(details["lit"], "\\u0000");
        assert_eq!(row.actor.as_deref(), Some("alice"));
        assert_eq!(row.request_id.as_deref(), Some("r-1"));
        assert_eq!(row.timestamp, "2026-05-27T14:30:00.000000Z");
    }

    #[test]
    fn marks_tell_events_apart_and_log_ids_depend_on_where_the_log_is() {
        let a = event("pause", serde_json::json!({"n": 1}), None);
        let b = event("pause", serde_json::json!({"n": 2}), None);
        assert_eq!(Mark::of(&a), Mark::of(&a.clone()));
        assert_ne!(Mark::of(&a), Mark::of(&b));
        let origin = |host: &str, dir: &str| Origin {
            host: host.to_owned(),
            root_log_dir: dir.to_owned(),
            experiment: "e".to_owned(),
        };
        let id = origin("h", "/runs/a").log_id(&a);
        assert_eq!(id.len(), 32);
        assert_eq!(id, origin("h", "/runs/a").log_id(&a));
        assert_ne!(id, origin("h2", "/runs/a").log_id(&a));
        assert_ne!(id, origin("h", "/runs/b").log_id(&a));
        assert_ne!(id, origin("h", "/runs/a").log_id(&b));
    }
}
