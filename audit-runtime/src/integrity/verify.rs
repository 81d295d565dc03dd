//! Checking a log's chain (and its digests) while streaming it: one event's link in memory
//! at a time, plus the digests (one per thousand events by default).

use std::collections::HashMap;

use super::chain::{GENESIS, Hash, Link, content_hash, link_hash, to_hex};
use super::digest::DigestLine;
use crate::AuditEvent;

/// The order events are fed in: the file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOrder {
    /// JSON: newest first.
    NewestFirst,
    /// CSV: oldest first.
    OldestFirst,
}

/// Where the chain breaks: the sequence number, and a sentence saying how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem {
    /// The chain's sequence number at the break.
    pub seq: u64,
    /// What is wrong.
    pub message: String,
    /// Byte offset and line of the event at fault (of the last event, for a problem found
    /// at the end).
    pub at: (u64, u64),
}

/// A problem before it is placed.
#[derive(Debug, Clone)]
struct Broken {
    seq: u64,
    message: String,
}

impl Broken {
    fn at(self, at: (u64, u64)) -> ChainProblem {
        ChainProblem {
            seq: self.seq,
            message: self.message,
            at,
        }
    }
}

/// What a verified chain holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Chained events checked.
    pub chained: u64,
    /// Events before the chain's start that carry no link (a log continued from the
    /// reference implementation's file).
    pub unchained_before: u64,
    /// The oldest link's sequence number and whether it continues a chain from an earlier
    /// (rotated) file: then its `prev` is that file's head.
    pub first_seq: Option<u64>,
    /// The previous file's head named by the first link, when it continues one.
    pub continues: Option<Hash>,
    /// The newest link.
    pub head: Option<(u64, Hash)>,
    /// The newest digest that matched an event in this file: sequence number and time.
    pub last_digest: Option<(u64, String)>,
    /// Digests checked against this file's events.
    pub digests_matched: u64,
    /// Digests naming events older than this file's first (an earlier, rotated file).
    pub digests_earlier: u64,
}

/// The part of an event's check that needs only the event: its link, read, its content
/// hash, and, when the link stores its `prev`, whether its hash is the one its content and
/// link make. Cheap to send between threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prechecked {
    link: Result<Option<Link>, String>,
    hash: HashCheck,
}

/// How far an event's own hash could be checked without the events around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashCheck {
    /// The link stores `prev`: checked.
    Done(bool),
    /// The link leaves `prev` out: it is the hash of the link before it in the file, so
    /// the check waits for that one. What the check needs besides it:
    Waits { content: Hash, timestamp: [u8; 27] },
    /// No link, or a malformed one.
    NoLink,
}

impl Prechecked {
    /// Reads the event's link and computes its content hash (and checks its hash, when the
    /// link stores the hash before it).
    pub fn of(event: &AuditEvent) -> Prechecked {
        let link = Link::from_details(&event.details);
        let hash = match &link {
            Ok(Some(link)) => {
                let content = content_hash(
                    &event.action_type,
                    event.status.as_str(),
                    &event.details,
                    event.error.as_deref(),
                );
                let timestamp = event.timestamp.to_bytes();
                match &link.prev {
                    Some(prev) => HashCheck::Done(
                        link_hash(prev, link.seq, link.first, &timestamp, &content) == link.hash,
                    ),
                    None => HashCheck::Waits { content, timestamp },
                }
            }
            _ => HashCheck::NoLink,
        };
        Prechecked { link, hash }
    }
}

/// An event whose hash is checked once the link before it (older) is known.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    link: Link,
    content: Hash,
    timestamp: [u8; 27],
    at: (u64, u64),
}

impl Waiting {
    fn check(&self, prev: &Hash) -> Result<(), ChainProblem> {
        let link = &self.link;
        if link_hash(prev, link.seq, link.first, &self.timestamp, &self.content) == link.hash {
            return Ok(());
        }
        Err(not_its_hash(link.seq, true).at(self.at))
    }
}

fn not_its_hash(seq: u64, prev_implied: bool) -> Broken {
    let message = if prev_implied {
        format!(
            "event seq {seq} does not match its hash: a value in it was changed, or the event \
             before it (seq {}) was replaced",
            seq.saturating_sub(1)
        )
    } else {
        format!("event seq {seq} does not match its hash: a value in it was changed")
    };
    Broken { seq, message }
}

/// Feeds a file's events in its order and checks every link.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    order: FileOrder,
    /// The link seen last (the next newer one for JSON, the next older one for CSV).
    last: Option<Link>,
    /// Newest first: the link seen last, when its hash can be checked only with the hash
    /// of the link before it (the next one in the file).
    waiting: Option<Waiting>,
    /// JSON: the start (a `first` link) has been seen; older events must be unchained.
    ended: bool,
    /// Events seen before any link: unchained ones newer than the chain (JSON) or older (CSV).
    unlinked_seen: u64,
    digests: HashMap<u64, DigestLine>,
    max_digest: Option<u64>,
    /// Newest first, a digest that disagrees is noted and the stream goes on: the oldest
    /// disagreeing digest is the one closest to the edit.
    mismatch: Option<Broken>,
    /// Where the event being checked is.
    at: (u64, u64),
    report: ChainReport,
    /// The file is one of a rotated set: digests past its head name newer files' events.
    in_set: bool,
}

impl ChainVerifier {
    /// A verifier for a file in `order`, checking the events against `digests` (read and
    /// checked with [`super::read_digests`]).
    pub fn new(order: FileOrder, digests: Vec<DigestLine>) -> ChainVerifier {
        let max_digest = digests.iter().map(|d| d.seq).max();
        ChainVerifier {
            order,
            last: None,
            waiting: None,
            ended: false,
            unlinked_seen: 0,
            digests: digests.into_iter().map(|d| (d.seq, d)).collect(),
            max_digest,
            mismatch: None,
            at: (0, 0),
            report: ChainReport::default(),
            in_set: false,
        }
    }

    /// For one file of a rotated set, given the digests of the whole set: a digest that
    /// names a sequence number past this file's head is a newer file's, not a sign that this
    /// file's newest events were cut off. Whoever checks the set checks that against the
    /// newest file's head instead.
    #[must_use]
    pub fn in_rotated_set(mut self) -> Self {
        self.in_set = true;
        self
    }

    /// Whether any event so far carried a link.
    pub fn has_chain(&self) -> bool {
        self.report.chained > 0
    }

    /// Checks the next event in the file's order, found at byte `offset` and `line`.
    pub fn event(
        &mut self,
        event: &AuditEvent,
        offset: u64,
        line: u64,
    ) -> Result<(), ChainProblem> {
        self.prechecked(Prechecked::of(event), offset, line)
    }

    /// [`event`](Self::event) for an event whose own part of the check was made already
    /// (perhaps on another thread): what is left depends on the events before it.
    pub fn prechecked(
        &mut self,
        event: Prechecked,
        offset: u64,
        line: u64,
    ) -> Result<(), ChainProblem> {
        self.at = (offset, line);
        self.check(event)
    }

    fn check(&mut self, event: Prechecked) -> Result<(), ChainProblem> {
        let here = self.at;
        let link = event.link.map_err(|message| {
            Broken {
                seq: self.next_expected().unwrap_or(0),
                message,
            }
            .at(here)
        })?;
        let Some(link) = link else {
            return self.unlinked().map_err(|b| b.at(here));
        };
        if event.hash == HashCheck::Done(false) {
            return Err(not_its_hash(link.seq, false).at(here));
        }
        let waits = match event.hash {
            HashCheck::Waits { content, timestamp } => Some(Waiting {
                link,
                content,
                timestamp,
                at: here,
            }),
            _ => None,
        };
        match self.order {
            FileOrder::OldestFirst => self.oldest_first(link, waits)?,
            FileOrder::NewestFirst => self.newest_first(link, waits)?,
        }
        if let Some(d) = self.digests.get(&link.seq) {
            if d.hash != link.hash {
                let problem = Broken {
                    seq: link.seq,
                    message: format!(
                        "event seq {} has hash {} but the digest signed at {} (digest line {}) \
                         names {}: the chain was recomputed after an edit, or events were replaced",
                        link.seq,
                        short(&link.hash),
                        d.timestamp,
                        d.line,
                        short(&d.hash)
                    ),
                };
                if self.order == FileOrder::OldestFirst {
                    return Err(problem.at(here));
                }
                self.mismatch = Some(problem);
            }
            self.report.digests_matched += 1;
            if self
                .report
                .last_digest
                .as_ref()
                .is_none_or(|(s, _)| *s < d.seq)
            {
                self.report.last_digest = Some((d.seq, d.timestamp.clone()));
            }
        }
        self.report.chained += 1;
        self.last = Some(link);
        Ok(())
    }

    fn next_expected(&self) -> Option<u64> {
        self.last.map(|l| match self.order {
            FileOrder::OldestFirst => l.seq + 1,
            FileOrder::NewestFirst => l.seq.saturating_sub(1),
        })
    }

    fn unlinked(&mut self) -> Result<(), Broken> {
        match (self.order, self.last) {
            (_, None) => self.unlinked_seen += 1,
            (FileOrder::NewestFirst, Some(_)) if self.ended => self.report.unchained_before += 1,
            (_, Some(last)) => {
                let seq = match self.order {
                    FileOrder::OldestFirst => last.seq + 1,
                    FileOrder::NewestFirst => last.seq.saturating_sub(1),
                };
                return Err(Broken {
                    seq,
                    message: format!(
                        "an event without a link where seq {seq} belongs: an event was inserted, \
                         or a writer without tamper evidence wrote to this log"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Oldest first, the link before this one is known: a link that leaves out its `prev`
    /// is checked at once.
    fn oldest_first(&mut self, link: Link, waits: Option<Waiting>) -> Result<(), ChainProblem> {
        let here = self.at;
        let Some(last) = self.last else {
            self.report.unchained_before = self.unlinked_seen;
            return self.start(link).map_err(|b| b.at(here));
        };
        if link.first {
            return Err(Broken {
                seq: link.seq,
                message: format!(
                    "event seq {} starts a chain again inside the file",
                    link.seq
                ),
            }
            .at(here));
        }
        if link.seq != last.seq + 1 {
            return Err(gap(last.seq + 1, link.seq).at(here));
        }
        if link.prev.is_some_and(|prev| prev != last.hash) {
            return Err(not_linked(link.seq, last.seq).at(here));
        }
        if let Some(waits) = waits {
            waits.check(&last.hash)?;
        }
        self.report.head = Some((link.seq, link.hash));
        Ok(())
    }

    /// Newest first, the link before this one comes next: a link that leaves out its
    /// `prev` waits for it, and this link settles the one that waited for it.
    fn newest_first(&mut self, link: Link, waits: Option<Waiting>) -> Result<(), ChainProblem> {
        let here = self.at;
        let Some(newer) = self.last else {
            if self.unlinked_seen > 0 {
                return Err(Broken {
                    seq: link.seq + 1,
                    message: format!(
                        "{} events newer than the chain's head (seq {}) carry no link: events \
                         were inserted, or a writer without tamper evidence wrote to this log",
                        self.unlinked_seen, link.seq
                    ),
                }
                .at(here));
            }
            self.report.head = Some((link.seq, link.hash));
            self.waiting = waits;
            return self.maybe_end(link).map_err(|b| b.at(here));
        };
        if self.ended {
            return Err(Broken {
                seq: link.seq,
                message: format!("event seq {} is older than the chain's start", link.seq),
            }
            .at(here));
        }
        if link.seq + 1 != newer.seq {
            return Err(gap(newer.seq - 1, link.seq).at(here));
        }
        if newer.prev.is_some_and(|prev| prev != link.hash) {
            return Err(not_linked(newer.seq, link.seq).at(here));
        }
        if let Some(newer) = self.waiting.take() {
            newer.check(&link.hash)?;
        }
        self.waiting = waits;
        self.maybe_end(link).map_err(|b| b.at(here))
    }

    fn maybe_end(&mut self, link: Link) -> Result<(), Broken> {
        if link.first {
            self.ended = true;
            self.start_fields(link)?;
        }
        Ok(())
    }

    fn start(&mut self, link: Link) -> Result<(), Broken> {
        if !link.first {
            return Err(missing_before(link.seq));
        }
        self.report.head = Some((link.seq, link.hash));
        self.start_fields(link)
    }

    fn start_fields(&mut self, link: Link) -> Result<(), Broken> {
        self.report.first_seq = Some(link.seq);
        let prev = link.prev.unwrap_or(GENESIS);
        if prev == GENESIS {
            if link.seq != 1 {
                return Err(Broken {
                    seq: link.seq,
                    message: format!("event seq {} starts a new chain but is not seq 1", link.seq),
                });
            }
        } else {
            self.report.continues = Some(prev);
        }
        Ok(())
    }

    /// After the last event: the oldest link must start the file's chain, and no digest may
    /// name an event past the newest one (the newest events cut off).
    pub fn finish(self) -> Result<ChainReport, ChainProblem> {
        let at = self.at;
        self.end().map_err(|b| b.at(at))
    }

    fn end(mut self) -> Result<ChainReport, Broken> {
        if let Some(mismatch) = self.mismatch.take() {
            return Err(mismatch);
        }
        if self.order == FileOrder::NewestFirst
            && let Some(last) = self.last
            && !self.ended
        {
            return Err(missing_before(last.seq));
        }
        if self.order == FileOrder::OldestFirst && self.last.is_none() {
            self.report.unchained_before = self.unlinked_seen;
        }
        if let (None, Some(max), false) = (self.report.head, self.max_digest, self.in_set) {
            let d = &self.digests[&max];
            return Err(Broken {
                seq: max,
                message: format!(
                    "the log holds no chained event, but a digest signed at {} (digest line {}) \
                     names seq {max}: its events were cut off",
                    d.timestamp, d.line
                ),
            });
        }
        if let (Some((head, _)), Some(max)) = (self.report.head, self.max_digest)
            && max > head
            && !self.in_set
        {
            let d = &self.digests[&max];
            return Err(Broken {
                seq: head + 1,
                message: format!(
                    "the log ends at seq {head}, but a digest signed at {} (digest line {}) \
                     names seq {max}: the newest {} events were cut off",
                    d.timestamp,
                    d.line,
                    max - head
                ),
            });
        }
        let first = self.report.first_seq.unwrap_or(0);
        self.report.digests_earlier = self.digests.keys().filter(|&&s| s < first).count() as u64;
        Ok(self.report)
    }
}

fn not_linked(newer: u64, older: u64) -> Broken {
    Broken {
        seq: newer,
        message: format!(
            "event seq {newer} does not link to the event before it (seq {older}): one of them \
             was replaced"
        ),
    }
}

fn gap(expected: u64, found: u64) -> Broken {
    Broken {
        seq: expected,
        message: format!(
            "seq {expected} is missing here (found seq {found}): events were deleted, inserted or reordered"
        ),
    }
}

fn missing_before(seq: u64) -> Broken {
    Broken {
        seq: seq.saturating_sub(1),
        message: format!(
            "the oldest chained event, seq {seq}, does not start the file's chain: the events \
             before it were deleted"
        ),
    }
}

/// The first 12 hex digits of a hash, for messages.
pub fn short(hash: &Hash) -> String {
    to_hex(&hash[..6])
}

/// A problem [`verify_file`] found: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The chain's sequence number at the problem (for a digest, the one it names).
    pub seq: Option<u64>,
    /// Byte offset of the event (or digest line) at fault.
    pub offset: u64,
    /// Its 1-based line.
    pub line: u64,
    /// In the sidecar rather than the log.
    pub in_digests: bool,
    /// What is wrong.
    pub message: String,
}

/// Checks the chain of the log at `path` and, when the sidecar exists, its digests
/// (signatures too when `key` is given): the library's `auditlog verify`, without the
/// structural checks. `Ok(Err(problem))` for the first problem found; `Err` when the log
/// cannot be read at all.
pub fn verify_file(
    path: &std::path::Path,
    key: Option<&super::PublicKey>,
) -> Result<Result<ChainReport, Problem>, crate::AuditError> {
    let format = crate::read::detect(path)?;
    let order = match format {
        crate::Format::Csv => FileOrder::OldestFirst,
        _ => FileOrder::NewestFirst,
    };
    let digests = match load_digests(path, key)? {
        Ok(d) => d,
        Err(p) => return Ok(Err(p)),
    };
    let mut verifier = ChainVerifier::new(order, digests);
    let mut events = crate::read::open_events_as(path, format)?;
    let mut last = (0, 0);
    while let Some(located) = events.next_located() {
        let located = located?;
        last = (located.offset, located.line);
        if let Err(p) = verifier.event(&located.event, located.offset, located.line) {
            return Ok(Err(Problem {
                seq: Some(p.seq),
                offset: p.at.0,
                line: p.at.1,
                in_digests: false,
                message: p.message,
            }));
        }
    }
    let report = match verifier.finish() {
        Ok(report) => report,
        Err(p) => {
            return Ok(Err(Problem {
                seq: Some(p.seq),
                offset: p.at.0,
                line: p.at.1,
                in_digests: false,
                message: p.message,
            }));
        }
    };
    Ok(
        require_signed(report, key.is_some()).map_err(|message| Problem {
            seq: None,
            offset: last.0,
            line: last.1,
            in_digests: true,
            message,
        }),
    )
}

/// With a key to check against, a chained log must be covered by at least one signed
/// digest: a tamperer who recomputed the chain would otherwise just delete the sidecar.
pub fn require_signed(report: ChainReport, keyed: bool) -> Result<ChainReport, String> {
    if keyed && report.chained > 0 && report.digests_matched == 0 {
        return Err(format!(
            "no signed digest names any of the {} chained events: the digests were deleted,              or the log was not written with this signing key",
            report.chained
        ));
    }
    Ok(report)
}

/// The digests beside the log at `log` (none when there is no sidecar), checked.
pub fn load_digests(
    log: &std::path::Path,
    key: Option<&super::PublicKey>,
) -> Result<Result<Vec<DigestLine>, Problem>, crate::AuditError> {
    let sidecar = super::sidecar_path(log);
    match super::read_digests(&sidecar, key) {
        Ok(Ok(d)) => Ok(Ok(d)),
        Ok(Err(p)) => Ok(Err(Problem {
            seq: p.seq,
            offset: p.offset,
            line: p.line,
            in_digests: true,
            message: p.message,
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ok(Vec::new())),
        Err(e) => Err(crate::AuditError::io("read", &sidecar, e)),
    }
}
