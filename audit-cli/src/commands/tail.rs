//! `auditlog tail`: the newest N events, oldest of them first (like `tail`), and with `-f`
//! every event written afterwards, by this process or any other, until interrupted.
//!
//! Following polls the file; only events newer than the last one printed are printed, and a
//! poll that finds the file mid-write prints nothing and tries again. Each poll looks at the
//! path's inode: a log rewritten by rename (a new inode) is opened again and read from its
//! start.
//!
//! **JSON**: new events are whole lines that the writer puts just before the newest event
//! (`\n{event},\n`, ending exactly at it), so the follower keeps the offset of the newest
//! event it has read and the first bytes of that event. A poll reads the two bytes before it:
//! `" \n"` (the end of the free space) means nothing new; `",\n"` means new event lines,
//! which it reads backwards line by line until it reaches the free space again. The cost of a
//! poll is proportional to the new events, not to the free space (which can be a quarter of
//! the log). The writer's last two bytes are the last it copies in, so lines behind them are
//! complete; each line must still parse as an event, newer than the one after it. Anything
//! unexpected (the event's first bytes changed, bytes that are not our layout) reads the log
//! again from its start, as does a log in another layout (whose changes are seen through its
//! length and modification time).
//!
//! **CSV**: read on from the end of the last complete row, up to a length taken under the
//! writers' lock when there is one; when the file shrinks or is replaced, it is read again
//! from the start.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;

use audit_runtime::read::{CsvEvents, JsonScanner, RecordPosition};
use audit_runtime::{AuditEvent, Format, Timestamp};

use crate::CliError;
use crate::cli::TailArgs;
use crate::output::Printer;
use crate::reader::{LogReader, parse_event};
use crate::snapshot::{
    FileRange, Sidecar, Snapshot, first_element, locked_len, read_at_most, start_of_line_before,
};
use crate::source::{self, LogFile};

/// How many bytes of the newest JSON event the follower keeps to recognise it: its
/// `{"timestamp":"…Z"` and a little more.
const HEAD_BYTES: usize = 64;

/// With `-f`, a log that does not exist yet is waited for (like `tail -F`): a server that has
/// not logged its first event, or a directory not created yet. Anything else that is wrong
/// with the path is reported by [`source::open`] as without `-f`.
fn wait_for_a_log(path: &std::path::Path, poll: Duration) {
    let exists = |path: &std::path::Path| {
        if path.is_dir() {
            path.join("audit_log.json").is_file() || path.join("audit_log.csv").is_file()
        } else {
            path.exists()
        }
    };
    if exists(path) {
        return;
    }
    eprintln!("auditlog: waiting for {} to appear", path.display());
    while !exists(path) {
        std::thread::sleep(poll);
    }
}

/// Prints the newest events, then follows the log if asked.
pub fn tail(args: &TailArgs) -> Result<u8, CliError> {
    if args.follow {
        wait_for_a_log(&args.path, Duration::from_millis(args.poll_ms.max(10)));
    }
    let log = source::open(&args.path)?;
    let mut printer = Printer::<std::io::BufWriter<std::io::Stdout>>::stdout(args.output);
    let snapshot = Snapshot::take(&log)?;
    let (newest, csv_resume) = match log.format {
        Format::Csv => initial_csv(&log, &snapshot, args.count, &mut printer)?,
        _ => (initial_json(&log, &snapshot, args.count, &mut printer)?, 0),
    };
    if !args.follow {
        printer.finish()?;
        return Ok(0);
    }
    printer.flush()?;
    let json_head = match log.format {
        Format::Csv => None,
        _ => snapshot
            .json_first
            .and_then(|at| JsonHead::read(&snapshot.file, at)),
    };
    let mut follower = Follower {
        open: identity(&snapshot.file).map(|id| (snapshot.file.clone(), id)),
        log,
        newest,
        csv_resume,
        seen: None,
        json_head,
    };
    let poll = Duration::from_millis(args.poll_ms.max(10));
    loop {
        std::thread::sleep(poll);
        follower.poll(&mut printer)?;
        printer.flush()?;
    }
}

fn initial_json<W: std::io::Write>(
    log: &LogFile,
    snapshot: &Snapshot,
    count: usize,
    printer: &mut Printer<W>,
) -> Result<Option<Timestamp>, CliError> {
    let mut reader = LogReader::from_snapshot(log, snapshot);
    let mut newest_first = Vec::new();
    let mut newest = None;
    while newest_first.len() < count.max(1) {
        let Some(entry) = reader.next_entry(log)? else {
            break;
        };
        newest = newest.max(Some(entry.event.timestamp));
        newest_first.push(entry.event);
    }
    newest_first.truncate(count);
    for event in newest_first.iter().rev() {
        printer.event(event)?;
    }
    Ok(newest)
}

fn initial_csv<W: std::io::Write>(
    log: &LogFile,
    snapshot: &Snapshot,
    count: usize,
    printer: &mut Printer<W>,
) -> Result<(Option<Timestamp>, u64), CliError> {
    let mut reader = LogReader::from_snapshot(log, snapshot);
    let mut last: VecDeque<AuditEvent> = VecDeque::with_capacity(count.min(1 << 16));
    let mut newest = None;
    let mut resume = 0;
    while let Some(entry) = reader.next_entry(log)? {
        newest = newest.max(Some(entry.event.timestamp));
        resume = entry.end;
        if count > 0 {
            if last.len() == count {
                last.pop_front();
            }
            last.push_back(entry.event);
        }
    }
    for event in &last {
        printer.event(event)?;
    }
    Ok((newest, resume))
}

/// (device, inode) of an open file.
fn identity(file: &File) -> Option<(u64, u64)> {
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// Where the newest event of a JSON log in our layout is (or the `]` of an empty one), and
/// its first bytes, which never change in place.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JsonHead {
    at: u64,
    bytes: Vec<u8>,
}

impl JsonHead {
    /// The head at `at`, which must start an event line or the `]` line.
    fn read(file: &File, at: u64) -> Option<JsonHead> {
        if at < 2 {
            return None;
        }
        let mut window = [0u8; 2 + HEAD_BYTES];
        let n = read_at_most(file, &mut window, at - 2).ok()?;
        let ours = n >= 3
            && window[1] == b'\n'
            && matches!(
                (window[0], window[2]),
                (b' ' | b',', b'{') | (b' ' | b'}', b']') | (b'[', _)
            )
            && (window[0] != b'[' || at == 2);
        ours.then(|| JsonHead {
            at,
            bytes: window[2..n].to_vec(),
        })
    }
}

/// What a look before the newest known JSON event found.
enum Before {
    /// The free space: nothing new.
    Nothing,
    /// New events, oldest first, and the new head.
    Fresh(Vec<AuditEvent>, JsonHead),
    /// Not what the writer leaves: read the log from its start.
    Rescan,
}

struct Follower {
    log: LogFile,
    newest: Option<Timestamp>,
    /// The log as opened last, and its (device, inode).
    open: Option<(Arc<File>, (u64, u64))>,
    /// CSV: where the next row starts (0: read from the start, header first).
    csv_resume: u64,
    /// (length, modification time in ns) at the last complete read: CSV, and JSON logs not
    /// in our layout, are read again only when these change.
    seen: Option<(u64, i64)>,
    /// JSON in our layout: the newest event read.
    json_head: Option<JsonHead>,
}

impl Follower {
    fn poll<W: std::io::Write>(&mut self, printer: &mut Printer<W>) -> Result<(), CliError> {
        let Ok(meta) = std::fs::metadata(&self.log.path) else {
            // Between a delete and a re-create: look again next time.
            return Ok(());
        };
        let at_path = (meta.dev(), meta.ino());
        let file = match &self.open {
            Some((file, id)) if *id == at_path => file.clone(),
            _ => {
                let Ok(file) = File::open(&self.log.path) else {
                    return Ok(());
                };
                let Some(id) = identity(&file) else {
                    return Ok(());
                };
                let file = Arc::new(file);
                self.open = Some((file.clone(), id));
                // A new file: read it from its start.
                self.csv_resume = 0;
                self.seen = None;
                self.json_head = None;
                file
            }
        };
        let fresh = match self.log.format {
            Format::Csv => self.new_csv(&file),
            _ => self.new_json(&file),
        };
        // A log caught mid-write yields nothing now; the next poll sees it whole.
        let Some(fresh) = fresh else {
            return Ok(());
        };
        for event in fresh {
            if self.newest.is_none_or(|n| event.timestamp > n) {
                self.newest = Some(event.timestamp);
                printer.event(&event)?;
            }
        }
        Ok(())
    }

    /// (length, modification time) of the open file, `None` if it cannot be had.
    fn stamp(file: &File) -> Option<(u64, i64)> {
        let meta = file.metadata().ok()?;
        Some((meta.len(), meta.mtime() * 1_000_000_000 + meta.mtime_nsec()))
    }

    /// Events newer than the newest printed, oldest first; `None` if the file could not be
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
            // Not our layout (or not known yet): read again only when the file changed.
            let stamp = Self::stamp(file);
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

    /// Reads the JSON log from its newest event to the first event already printed.
    fn rescan_json(&mut self, file: &Arc<File>) -> Option<Vec<AuditEvent>> {
        let first = first_element(file, Sidecar::open(&self.log.path).as_ref());
        let reader = FileRange::new(file.clone(), 0, None);
        let mut scanner = match first {
            Some(first) => JsonScanner::inside_array(reader, first),
            None => JsonScanner::new(reader),
        };
        let mut fresh = Vec::new();
        let mut head = None;
        loop {
            match scanner.next_element() {
                Ok(Some(element)) => {
                    head.get_or_insert(element.start);
                    let event = element.to_event().ok()?;
                    if self.newest.is_some_and(|n| event.timestamp <= n) {
                        break;
                    }
                    fresh.push(event);
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
        let stamp = Self::stamp(file);
        if stamp.is_some() && stamp == self.seen {
            return Some(Vec::new());
        }
        let len = stamp.map_or(0, |(len, _)| len);
        if len < self.csv_resume {
            self.csv_resume = 0;
        }
        // Up to a row boundary when the writers' lock can be had; otherwise to the end, and
        // a row still being written is read again next time.
        let end = Sidecar::open(&self.log.path).and_then(|sidecar| locked_len(&sidecar, file));
        let reader = FileRange::new(file.clone(), self.csv_resume, end);
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

/// Reads the event lines written before `head` since it was the newest event, back to the
/// free space.
fn new_lines_before(file: &File, head: &JsonHead, newest: Option<Timestamp>) -> Before {
    let mut window = vec![0u8; 2 + head.bytes.len()];
    match read_at_most(file, &mut window, head.at - 2) {
        Ok(n) if n == window.len() && window[2..] == head.bytes[..] => {}
        _ => return Before::Rescan,
    }
    let mut at = head.at;
    let mut marker = [window[0], window[1]];
    let mut fresh: Vec<AuditEvent> = Vec::new();
    let mut before = head.bytes[0];
    loop {
        match (marker, before) {
            ([b' ', b'\n'], _) => break,
            // A writer died writing an event that spans pages: what is before its mark is
            // not an event (the next write clears it).
            ([b'\r', b'\n'], _) => break,
            ([b'[', b'\n'], _) if at == 2 => break,
            // `},` ends an event line before another event, `}` the line before the `]`.
            ([b',', b'\n'], b'{') | ([b'}', b'\n'], b']') => {}
            _ => return Before::Rescan,
        }
        // The marker was read first and is the last part of the line the writer copies in:
        // the line behind it is complete.
        let Ok(Some(start)) = start_of_line_before(file, at - 1) else {
            return Before::Rescan;
        };
        let Ok(len) = usize::try_from(at - 1 - start) else {
            return Before::Rescan;
        };
        let mut line = vec![0u8; len];
        if start < 2 || read_at_most(file, &mut line, start).ok() != Some(len) {
            return Before::Rescan;
        }
        if line.last() == Some(&b',') {
            line.pop();
        }
        let Ok(event) = parse_event(&line) else {
            return Before::Rescan;
        };
        // Each line up is newer than the one below it, and than everything printed.
        let older = fresh.last().map(|e| e.timestamp).or(newest);
        if older.is_some_and(|o| event.timestamp <= o) {
            return Before::Rescan;
        }
        fresh.push(event);
        at = start;
        before = b'{';
        if read_at_most(file, &mut marker, at - 2).ok() != Some(2) {
            return Before::Rescan;
        }
    }
    if fresh.is_empty() {
        return Before::Nothing;
    }
    match JsonHead::read(file, at) {
        Some(head) => Before::Fresh(fresh, head),
        None => Before::Rescan,
    }
}
