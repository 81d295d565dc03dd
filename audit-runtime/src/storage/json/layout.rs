//! The layout of `audit_log.json`, in one place: the writer, the open-time check and the
//! public reader (`crate::read::Snapshot` and `Follow`, which `auditlog` uses) all use it.
//!
//! ```text
//! [<gap: spaces>[\r]\n        <- '\t' instead of '\n' in a file a rewrite replaced
//! {"timestamp":"…",…},        <- the newest event: EVENT_HEAD, then its timestamp
//! …
//! ]
//! ```
//! Marks, all JSON whitespace so the file stays valid: a tab where the gap's newline was
//! ([`REPLACED_MARK`], the old file of a rewrite), a carriage return just before it
//! ([`TORN_MARK`], an event that spans pages is being written; a writer that dies leaves it,
//! with part of the event before it).

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::event::TIMESTAMP_LEN;
use crate::storage::fs::{ReadAt, read_at_most};
use crate::storage::recovery::Recovery;
use crate::{AuditError, Timestamp};

/// The gap every rewrite leaves at least: room for a few hundred typical events.
pub(crate) const MIN_GAP: u64 = 64 * 1024;
/// `{"timestamp":"` — every event line starts with it.
pub(crate) const EVENT_HEAD: &[u8] = br#"{"timestamp":""#;
/// Bytes read under the lock before each write: the two bytes before the first event and
/// enough of it to see its timestamp.
pub(crate) const WINDOW: usize = 2 + EVENT_HEAD.len() + TIMESTAMP_LEN;

/// The gap a rewrite leaves for a log whose events take `content` bytes: twice their size
/// (plus [`MIN_GAP`]), so the file is at most three times its events. A rewrite writes the
/// events once more and the gap's spaces, so the smaller the gap, the more often everything
/// is written again; and the rewrite is built in the background while writers fill what is
/// left of the gap, which must outlast the copy. With this gap and the start below, filling
/// a log writes at most about 2.7 times its final size to disk (a gap of a quarter, the
/// earlier choice, wrote 5.9 times).
pub(crate) fn gap_for(content: u64) -> u64 {
    MIN_GAP + 2 * content
}

/// Below this many bytes of events a rewrite is made while writing, under the lock: copying
/// and syncing a megabyte takes a few milliseconds.
pub(crate) const BACKGROUND_REWRITE_MIN: u64 = 1 << 20;

/// Whether to start building the next file in the background: when what is left of the gap
/// is less than half the events (half of a fresh gap used). What is left then, as much as
/// the events took when the log was last rewritten, takes the events written while the copy
/// is made.
pub(crate) fn rewrite_is_due(remaining: u64, content: u64) -> bool {
    content >= BACKGROUND_REWRITE_MIN && remaining < content / 2
}

/// The byte a rewrite leaves, in the old file, where the gap's final newline was.
pub(crate) const REPLACED_MARK: u8 = b'\t';
/// The byte a writer puts just before the gap's final newline before an event that spans a
/// page boundary (see "Writers killed mid-write" above); the event overwrites it.
pub(crate) const TORN_MARK: u8 = b'\r';
/// The unit in which the kernel copies a write into the file (the smallest page size; a
/// larger page only makes writes within one page more likely).
pub(crate) const PAGE: u64 = 4096;

/// Where a line starts, read backwards from its end.
pub(crate) enum LineStart {
    At(u64),
    /// Reached the mark of a rewritten file first.
    Replaced,
    NotFound,
}

/// What the bytes at a candidate first-event offset `at` (and the two before it) say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The gap ends here: the newest event follows (its timestamp, [`Timestamp::MIN`] when
    /// its head is not ours) or the `]` of an empty log (`None`).
    GapEnd(Option<Timestamp>),
    /// An event line sits before `at` (other writers added lines since the candidate was
    /// found): it starts at this offset.
    LineBefore(u64),
    /// The file holds a rewrite's mark: a new file was renamed over the path.
    Replaced,
    /// A writer died writing an event that spans pages: the torn mark is before the gap's
    /// newline, part of that event may be before it.
    Torn,
    /// Not this layout (edited by another program, or the candidate is wrong).
    Foreign,
}

/// Reads the bytes around `at` and says what they are. Only meaningful with the writers'
/// lock held (no write in progress).
pub(crate) fn probe(file: &File, at: u64) -> io::Result<Probe> {
    if at < 2 {
        return Ok(Probe::Foreign);
    }
    let mut window = [0u8; WINDOW];
    let n = read_at_most(file, &mut window, at - 2)?;
    if n >= 2 && window[1] == REPLACED_MARK {
        return Ok(Probe::Replaced);
    }
    if n < 3 || window[1] != b'\n' {
        return Ok(Probe::Foreign);
    }
    Ok(match window[0] {
        b' ' | b'[' => match first_element(&window[2..n]) {
            Some(newest) => Probe::GapEnd(newest),
            None => Probe::Foreign,
        },
        b',' | b'}' => match start_of_line_before(file, at - 1)? {
            LineStart::At(start) => Probe::LineBefore(start),
            LineStart::Replaced => Probe::Replaced,
            LineStart::NotFound => Probe::Foreign,
        },
        TORN_MARK => Probe::Torn,
        _ => Probe::Foreign,
    })
}

/// Where the line that ends with the newline at `newline_at` starts, found by reading
/// backwards. Event lines hold no raw tabs, so a tab found first is the mark of a file
/// that was rewritten.
pub(crate) fn start_of_line_before(file: &File, newline_at: u64) -> io::Result<LineStart> {
    let found = crate::read::rfind_either(file, newline_at, b'\n', REPLACED_MARK)?;
    Ok(match found {
        Some((_, REPLACED_MARK)) => LineStart::Replaced,
        Some((at, _)) => LineStart::At(at + 1),
        None => LineStart::NotFound,
    })
}

/// With the writers' lock held: from a candidate first-event offset, back over event lines
/// other writers added, to where the newest event is now. `None` when the bytes are not
/// this layout (or the file was replaced). A torn event before the gap's newline is not an
/// event: the newest event is after it.
pub(crate) fn newest_event_at(file: &File, mut at: u64) -> io::Result<Option<u64>> {
    loop {
        match probe(file, at)? {
            Probe::GapEnd(_) | Probe::Torn => return Ok(Some(at)),
            Probe::LineBefore(start) => at = start,
            Probe::Replaced | Probe::Foreign => return Ok(None),
        }
    }
}

pub(crate) fn write_spaces(out: &mut impl Write, mut n: u64) -> io::Result<()> {
    let block = [b' '; 64 * 1024];
    while n > 0 {
        let take = n.min(block.len() as u64) as usize;
        out.write_all(&block[..take])?;
        n -= take as u64;
    }
    Ok(())
}

/// Reads what starts at the gap's end: `None` for `]` (an empty log), `Some(newest)` for an
/// event, where `newest` is `Timestamp::MIN` if the element's head is not ours (written by
/// another tool: its time is unknown, so only this process's clock orders new events).
/// The outer `None` means it is neither.
pub(crate) fn first_element(bytes: &[u8]) -> Option<Option<Timestamp>> {
    match bytes.first()? {
        b']' => Some(None),
        b'{' => Some(Some(
            bytes
                .strip_prefix(EVENT_HEAD)
                .and_then(|rest| rest.get(..TIMESTAMP_LEN))
                .and_then(Timestamp::parse_fixed)
                .unwrap_or(Timestamp::MIN),
        )),
        _ => None,
    }
}

/// The newest event's timestamp (`None` for an empty log), read at the gap's end.
pub(crate) fn newest_timestamp(
    file: &File,
    first: u64,
    path: &Path,
) -> Result<Option<Timestamp>, AuditError> {
    let mut head = [0u8; EVENT_HEAD.len() + TIMESTAMP_LEN];
    let n = read_at_most(file, &mut head, first).map_err(|e| AuditError::io("read", path, e))?;
    first_element(&head[..n]).ok_or_else(|| AuditError::Malformed {
        path: path.to_owned(),
        reason: format!("byte {first}: expected an event or ']' after the free space"),
    })
}

/// Where a log in our layout has its first event, and what a dead writer left in its gap.
pub(crate) struct Layout {
    pub(crate) gap_end: u64,
    pub(crate) repair: Option<GapRepair>,
}

/// What a writer that died left at the end of the gap; cleared under the lock on open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GapRepair {
    /// Part of an event (bytes `start..end`, from its leading newline to the torn mark).
    Torn { start: u64, end: u64 },
    /// The torn mark at `at`, with nothing of its event written.
    TornMark { at: u64 },
    /// A rewrite's mark at `at`: the rewriter died before renaming its new file into place,
    /// so this file is still the log.
    RewriteMark { at: u64 },
}

impl GapRepair {
    /// Undoes what was left; returns the recovery report for a torn event.
    pub(crate) fn apply(self, file: &File, path: &Path) -> Result<Option<Recovery>, AuditError> {
        let write = |bytes: &[u8], at: u64| {
            file.write_all_at(bytes, at)
                .map_err(|e| AuditError::io("clear a torn write in", path, e))
        };
        match self {
            GapRepair::Torn { start, end } => {
                write(&vec![b' '; (end - start) as usize], start)?;
                Ok(Some(Recovery::torn_write(path, start, end - start - 1)))
            }
            GapRepair::TornMark { at } => write(b" ", at).map(|()| None),
            GapRepair::RewriteMark { at } => write(b"\n", at).map(|()| None),
        }
    }
}

/// Checks the cheap-to-check parts of our layout: `[`, spaces, a newline, then either `]`
/// or a first event line that parses and is followed by `,\n` or `\n]`, and a file that ends
/// with `\n]\n`. Returns where the first event (or `]`) is, or `None` when the file needs a
/// full look. What a killed writer left at the end of the gap (a torn event, a torn mark, a
/// rewrite's mark) is recognised and returned for the caller to clear.
pub(crate) fn quick_layout(
    file: &File,
    len: u64,
    path: &Path,
) -> Result<Option<Layout>, AuditError> {
    let io_err = |e| AuditError::io("read", path, e);
    let mut tail = [0u8; 3];
    if len < 4 || read_at_most(file, &mut tail, len - 3).map_err(io_err)? != 3 || tail != *b"\n]\n"
    {
        return Ok(None);
    }
    let mut reader = BufReader::with_capacity(64 * 1024, ReadAt { file, offset: 0 });
    let mut first = [0u8; 1];
    reader.read_exact(&mut first).map_err(io_err)?;
    if first[0] != b'[' {
        return Ok(None);
    }
    // Skip the gap.
    let mut offset = 1u64;
    loop {
        let buf = std::io::BufRead::fill_buf(&mut reader).map_err(io_err)?;
        if buf.is_empty() {
            return Ok(None);
        }
        let spaces = buf.iter().take_while(|&&b| b == b' ').count();
        let done = spaces < buf.len();
        std::io::BufRead::consume(&mut reader, spaces);
        offset += spaces as u64;
        if done {
            break;
        }
    }
    let mut end_of_gap = [0u8; 1];
    reader.read_exact(&mut end_of_gap).map_err(io_err)?;
    let mut repair = None;
    let mut line = Vec::new();
    match end_of_gap[0] {
        b'\n' => {}
        REPLACED_MARK => repair = Some(GapRepair::RewriteMark { at: offset }),
        TORN_MARK => {
            let mut newline = [0u8; 1];
            reader.read_exact(&mut newline).map_err(io_err)?;
            if newline[0] != b'\n' {
                return Ok(None);
            }
            repair = Some(GapRepair::TornMark { at: offset });
            offset += 1;
        }
        _ => return Ok(None),
    }
    let mut gap_end = offset + 1;
    std::io::BufRead::read_until(&mut reader, b'\n', &mut line).map_err(io_err)?;
    if repair.is_none() && line.ends_with(b"\r\n") {
        // The line is a torn event: its first pages, the spaces its last page did not
        // overwrite, and the torn mark. The real first event follows it.
        let written = line[..line.len() - 2].trim_ascii_end();
        let ours = if written.len() < EVENT_HEAD.len() {
            EVENT_HEAD.starts_with(written)
        } else {
            written.starts_with(EVENT_HEAD)
        };
        if !ours {
            return Ok(None);
        }
        repair = Some(GapRepair::Torn {
            start: offset,
            end: offset + line.len() as u64,
        });
        gap_end = offset + 1 + line.len() as u64;
        line.clear();
        std::io::BufRead::read_until(&mut reader, b'\n', &mut line).map_err(io_err)?;
    }
    if gap_end == len - 2 {
        return Ok(Some(Layout { gap_end, repair })); // `[   \n]\n`: empty log
    }
    let body = match line.as_slice() {
        [body @ .., b',', b'\n'] => body,
        [body @ .., b'\n'] if gap_end + line.len() as u64 == len - 2 => body,
        _ => return Ok(None),
    };
    let is_event = crate::read::parse_event(body).is_ok();
    Ok(is_event.then_some(Layout { gap_end, repair }))
}

/// Whether bytes `1..gap_end-1` are spaces and `gap_end-1` is a newline.
pub(crate) fn head_is_gap(file: &File, gap_end: u64) -> io::Result<bool> {
    if gap_end < 2 {
        return Ok(false);
    }
    let mut reader = BufReader::with_capacity(64 * 1024, ReadAt { file, offset: 1 });
    let mut remaining = gap_end - 2;
    let mut block = [0u8; 64 * 1024];
    while remaining > 0 {
        let take = remaining.min(block.len() as u64) as usize;
        reader.read_exact(&mut block[..take])?;
        if block[..take].iter().any(|&b| b != b' ') {
            return Ok(false);
        }
        remaining -= take as u64;
    }
    let mut newline = [0u8; 1];
    reader.read_exact(&mut newline)?;
    Ok(newline[0] == b'\n')
}
