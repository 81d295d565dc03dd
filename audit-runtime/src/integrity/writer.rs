//! What the JSON and CSV writers do for the chain: the link's placeholder in the encoded
//! event (outside the lock), and under the lock finding the chain's head and splicing the
//! link in.

use std::fs::File;
use std::io::{self, BufReader, Read};

use serde_json::{Map, Value};

use super::chain::{Hash, Head, Link, Next, content_hash, details_with_placeholder, write_link};
use crate::AuditEvent;
use crate::event::RESERVED_DETAILS_KEY;
use crate::storage::encode::{Encoded, Record};
use crate::storage::fs::{ReadAt, read_at_most};

/// An event's content hash, and how its link goes into the encoded event: all of the
/// chain's work that does not depend on the previous event, done before the lock is taken.
///
/// Most events have no `_audit` of their own: their details are encoded as they are and the
/// link is inserted before the details' closing brace (`,"_audit":{"chain":{..}}`), so the
/// details are not copied. An event that has `_audit` (the wall clock, a caller's own), and
/// a CSV event with empty details (written `{}`, unquoted), are encoded from a copy with a
/// `null` placeholder as the last member of `_audit`, which the link replaces.
#[derive(Debug)]
pub(crate) struct Prepared {
    placeholder: Option<Map<String, Value>>,
    empty: bool,
    pub(crate) content: Hash,
}

impl Prepared {
    pub(crate) fn new(record: &Record<'_>, csv: bool) -> Prepared {
        let details = record.details;
        if details.contains_key(RESERVED_DETAILS_KEY) || (csv && details.is_empty()) {
            let placed = details_with_placeholder(details);
            let content = content_hash(record.action_type, record.status, &placed, record.error);
            return Prepared {
                placeholder: Some(placed),
                empty: false,
                content,
            };
        }
        Prepared {
            placeholder: None,
            empty: details.is_empty(),
            content: content_hash(record.action_type, record.status, details, record.error),
        }
    }

    /// The record to encode.
    pub(crate) fn record<'a>(&'a self, record: &Record<'a>) -> Record<'a> {
        match &self.placeholder {
            Some(details) => record.with_details(details),
            None => record.clone(),
        }
    }

    /// Puts the link into the encoded event, every `"` written as `quote`.
    pub(crate) fn splice(&self, enc: &mut Encoded, link: &Link, quote: &[u8]) -> io::Result<()> {
        if self.placeholder.is_some() {
            return splice(enc, link, quote);
        }
        let at = enc.details_end.saturating_sub(1);
        if enc.bytes.get(at) != Some(&b'}') {
            return Err(io::Error::other("the details do not end where they should"));
        }
        let before = enc.bytes.len();
        if !self.empty {
            enc.bytes.push(b',');
        }
        for part in [quote, b"_audit", quote, b":{", quote, b"chain", quote, b":"] {
            enc.bytes.extend_from_slice(part);
        }
        write_link(&mut enc.bytes, link, quote);
        enc.bytes.push(b'}');
        move_into_place(&mut enc.bytes, before, at);
        Ok(())
    }
}

/// Moves what was appended to `bytes` after `appended_at` to `at`, shifting what was there.
fn move_into_place(bytes: &mut [u8], appended_at: usize, at: usize) {
    let inserted = bytes.len() - appended_at;
    bytes[at..].rotate_right(inserted);
}

/// What the newest event of a file says about the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    /// The file holds no event.
    Empty,
    /// Its newest event carries no link (a log written without tamper evidence).
    Unchained,
    /// Its newest event's link.
    Linked(Head),
}

impl Point {
    pub(crate) fn of(event: &AuditEvent) -> Point {
        match Link::from_details(&event.details) {
            Ok(Some(link)) => Point::Linked(link.head()),
            // A malformed link cannot be continued: start anew, verify reports it.
            _ => Point::Unchained,
        }
    }

    /// The next link: after the head, a new chain after an unchained event, and in an
    /// empty file either a new chain or, when the log was rotated (`carried` is the old
    /// file's head), its continuation.
    pub(crate) fn next(self, carried: Option<Head>) -> Next {
        match (self, carried) {
            (Point::Linked(head), _) => Next::after(head, false),
            (Point::Empty, Some(head)) => Next::after(head, true),
            _ => Next::GENESIS,
        }
    }
}

/// Replaces the link's `null` placeholder (the last member of `_audit`, the last member of
/// the details, just before `details_end`'s two closing braces) with the link.
fn splice(enc: &mut Encoded, link: &Link, quote: &[u8]) -> io::Result<()> {
    let end = enc.details_end.saturating_sub(2);
    let start = end.saturating_sub(4);
    if enc.bytes.get(start..enc.details_end) != Some(b"null}}".as_slice()) {
        return Err(io::Error::other(
            "the link's placeholder is not where it belongs",
        ));
    }
    // The link goes where the placeholder's `null` was.
    enc.bytes.drain(start..end);
    let before = enc.bytes.len();
    write_link(&mut enc.bytes, link, quote);
    move_into_place(&mut enc.bytes, before, start);
    Ok(())
}

/// The JSON file's event starting at `at` (its `{`; a `]` means the file is empty), read to
/// the end of its line.
pub(crate) fn json_point(file: &File, at: u64) -> io::Result<Point> {
    let mut first = [0u8; 1];
    if read_at_most(file, &mut first, at)? == 0 || first[0] == b']' {
        return Ok(Point::Empty);
    }
    let mut line = Vec::with_capacity(1024);
    let mut reader = BufReader::with_capacity(16 * 1024, ReadAt { file, offset: at });
    let mut chunk = [0u8; 8 * 1024];
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        if let Some(nl) = memchr::memchr(b'\n', &chunk[..n]) {
            line.extend_from_slice(&chunk[..nl]);
            break;
        }
        line.extend_from_slice(&chunk[..n]);
    }
    while matches!(line.last(), Some(b',' | b' ' | b'\r')) {
        line.pop();
    }
    Ok(match crate::read::parse_event(&line) {
        Ok(event) => Point::of(&event),
        Err(_) => Point::Unchained,
    })
}

/// The CSV file's last row, read from the start (used only when the lock file's record of
/// the head cannot be trusted: after another writer without tamper evidence, or at open).
pub(crate) fn csv_point(file: &File, len: u64) -> io::Result<Point> {
    let source = ReadAt { file, offset: 0 }.take(len);
    let mut point = Point::Empty;
    for row in crate::read::CsvEvents::new(BufReader::with_capacity(256 * 1024, source)) {
        match row {
            Ok((_, event)) => point = Point::of(&event),
            Err(_) => break,
        }
    }
    Ok(point)
}

/// The chain head a CSV writer leaves in the lock file after the handoff: it is trusted only
/// when it names the same file and end as the handoff (a writer without tamper evidence
/// leaves this part as it was and moves the end on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CsvHeadRecord {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) end: u64,
    pub(crate) head: Head,
}

impl CsvHeadRecord {
    pub(crate) const LEN: usize = 8 * 4 + 32;

    pub(crate) fn to_bytes(self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        for (i, w) in [self.dev, self.ino, self.end, self.head.seq]
            .into_iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b[32..].copy_from_slice(&self.head.hash);
        b
    }

    pub(crate) fn from_bytes(b: &[u8]) -> Option<CsvHeadRecord> {
        if b.len() < Self::LEN {
            return None;
        }
        let w = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(x)
        };
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&b[32..Self::LEN]);
        (w(3) > 0).then_some(CsvHeadRecord {
            dev: w(0),
            ino: w(1),
            end: w(2),
            head: Head { seq: w(3), hash },
        })
    }
}

/// The signing key the builder asks for (`.signing_key(..)`, else `AUDIT_LOG_SIGNING_KEY`).
pub(crate) fn signing_key(
    config: &super::IntegrityConfig,
) -> Result<Option<super::SigningKey>, crate::AuditError> {
    let path = config.key.clone().or_else(|| {
        std::env::var_os(super::SIGNING_KEY_ENV_VAR)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    });
    path.map(|p| super::SigningKey::from_file(&p)).transpose()
}
