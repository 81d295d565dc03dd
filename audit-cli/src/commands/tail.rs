//! `auditlog tail`: the newest N events, oldest of them first (like `tail`), and with `-f`
//! every event written afterwards, by this process or any other, until interrupted.
//!
//! Following polls the file. A JSON log is re-read from the start each time it changed
//! (new events are at the front; the scan stops at the first event already printed), and
//! the path is re-opened every time, so a log rewritten by rename (a new inode) is followed
//! too. A CSV log is read on from the end of the last complete row; when it shrinks or is
//! replaced, it is read again from the start. Either way only events newer than the last one
//! printed are printed, and a poll that finds the file mid-write prints nothing and tries
//! again.
//!
//! A JSON write into the free space changes neither the file's length nor its inode, and
//! on file systems with coarse modification times (a clock tick, or seconds) it may not
//! change the time either. So for JSON the poll also looks at the two bytes before the newest
//! event it saw: the writer's next event always ends there, turning `" \n"` (or `"[\n"`) into
//! `",\n"`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::time::Duration;

use audit_runtime::read::{CsvEvents, JsonScanner, RecordPosition};
use audit_runtime::{AuditEvent, Format, Timestamp};

use crate::CliError;
use crate::cli::TailArgs;
use crate::output::Printer;
use crate::reader::LogReader;
use crate::source::{self, LogFile};

/// Prints the newest events, then follows the log if asked.
pub fn tail(args: &TailArgs) -> Result<u8, CliError> {
    let log = source::open(&args.path)?;
    let mut printer = Printer::<std::io::BufWriter<std::io::Stdout>>::stdout(args.output);
    let (newest, csv_resume) = match log.format {
        Format::Csv => initial_csv(&log, args.count, &mut printer)?,
        _ => (initial_json(&log, args.count, &mut printer)?, 0),
    };
    if !args.follow {
        printer.finish()?;
        return Ok(0);
    }
    printer.flush()?;
    let mut follower = Follower {
        log,
        newest,
        csv_resume,
        seen: None,
        json_head: None,
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
    count: usize,
    printer: &mut Printer<W>,
) -> Result<Option<Timestamp>, CliError> {
    let mut reader = LogReader::open(log)?;
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
    count: usize,
    printer: &mut Printer<W>,
) -> Result<(Option<Timestamp>, u64), CliError> {
    let mut reader = LogReader::open(log)?;
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

/// (device, inode, length, modification time in ns): changes when the log does.
type Identity = (u64, u64, u64, i64);

struct Follower {
    log: LogFile,
    newest: Option<Timestamp>,
    /// CSV: where the next row starts (0: read from the start, header first).
    csv_resume: u64,
    seen: Option<Identity>,
    /// JSON: where the newest event (or the `]` of an empty log) was at the last complete
    /// read, and the two bytes before it then.
    json_head: Option<(u64, [u8; 2])>,
}

impl Follower {
    fn poll<W: std::io::Write>(&mut self, printer: &mut Printer<W>) -> Result<(), CliError> {
        let Ok(file) = File::open(&self.log.path) else {
            // Between a delete and a re-create: look again next time.
            return Ok(());
        };
        let Ok(meta) = file.metadata() else {
            return Ok(());
        };
        let identity = (
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        );
        if self.seen == Some(identity) && !self.json_head_moved(&file) {
            return Ok(());
        }
        let replaced = self
            .seen
            .is_some_and(|(dev, ino, ..)| (dev, ino) != (identity.0, identity.1));
        let fresh = match self.log.format {
            Format::Csv => self.new_csv(file, meta.len(), replaced),
            _ => self.new_json(&file),
        };
        // A log caught mid-write yields nothing now; the next poll sees it whole.
        let Some(fresh) = fresh else {
            return Ok(());
        };
        self.seen = Some(identity);
        for event in fresh {
            self.newest = self.newest.max(Some(event.timestamp));
            printer.event(&event)?;
        }
        Ok(())
    }

    /// Whether something was written before the newest JSON event seen last time (always
    /// false for CSV, and true when it cannot be told).
    fn json_head_moved(&self, file: &File) -> bool {
        if self.log.format == Format::Csv {
            return false;
        }
        let Some((head, before)) = self.json_head else {
            return true;
        };
        let mut now = [0u8; 2];
        head < 2 || file.read_exact_at(&mut now, head - 2).is_err() || now != before
    }

    /// Events newer than the newest printed, oldest first; `None` if the file could not be
    /// read whole. Notes where the newest event is, for [`Self::json_head_moved`].
    fn new_json(&mut self, file: &File) -> Option<Vec<AuditEvent>> {
        let mut scanner = JsonScanner::new(file);
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
        let head = head.or(scanner.array_end());
        // Only whitespace or the `[` can precede the newest event; anything else means a
        // write landed after the scan, and the next poll must look again.
        self.json_head = head.and_then(|head| {
            let mut before = [0u8; 2];
            (head >= 2
                && file.read_exact_at(&mut before, head - 2).is_ok()
                && before.iter().all(|&b| b == b'[' || b.is_ascii_whitespace()))
            .then_some((head, before))
        });
        fresh.reverse();
        Some(fresh)
    }

    fn new_csv(&mut self, mut file: File, len: u64, replaced: bool) -> Option<Vec<AuditEvent>> {
        if replaced || len < self.csv_resume {
            self.csv_resume = 0;
        }
        let mut rows = if self.csv_resume == 0 {
            CsvEvents::new(file)
        } else {
            file.seek(SeekFrom::Start(self.csv_resume)).ok()?;
            let at = RecordPosition {
                byte: self.csv_resume,
                line: 0,
            };
            CsvEvents::starting_at(file, at)
        };
        let mut fresh = Vec::new();
        while let Some(row) = rows.next() {
            let Ok((_, event)) = row else {
                // Most likely a row being written; read it again next time.
                break;
            };
            match rows.last_end() {
                Some((end, true)) => self.csv_resume = end,
                _ => break,
            }
            if self.newest.is_none_or(|n| event.timestamp > n) {
                fresh.push(event);
            }
        }
        Some(fresh)
    }
}
