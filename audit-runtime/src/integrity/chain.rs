//! The hash chain: one link per event, stored in `details._audit.chain`.
//!
//! ```text
//! content = SHA-256( JCS({"action_type", "details" without _audit.chain, "error", "status"}) )
//! hash    = SHA-256( prev (32 bytes) || seq (u64, big-endian) || first (1 byte: 1 or 0)
//!                    || timestamp (the 27 ASCII bytes, e.g. 2026-05-27T14:30:00.123456Z)
//!                    || content (32 bytes) )
//! ```
//!
//! `prev` is the previous link's hash (32 zero bytes for a chain's first event), `seq` counts
//! from 1, and `first` marks the first chained event of a file (a new chain, or the first
//! event of a file that continues the chain of a rotated one: then `prev` is that file's
//! head). The link is written as `{"seq":N,"hash":"<hex>"}`; a file's first link also
//! stores its `prev`, `{"seq":N,"prev":"<hex>","hash":"<hex>","first":true}`, since nothing
//! in the file comes before it. Every other `prev` is the hash of the link before it in
//! the file, which a verifier has just read: storing it again would make every event 75
//! bytes longer for nothing. Links written before that change carry `prev` on every link;
//! readers accept both and check a stored `prev` against the event before it.
//!
//! `content` does not depend on the timestamp or on the previous link, so the logger
//! computes it before it takes the log's lock; under the lock only `hash` (one SHA-256 of
//! 100 bytes) is left.

use std::cell::Cell;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical;
use crate::event::RESERVED_DETAILS_KEY;

/// The key of the link inside `details._audit`.
pub const CHAIN_KEY: &str = "chain";

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The `prev` of a chain's first event.
pub const GENESIS: Hash = [0; 32];

/// One event's link, as stored in `details._audit.chain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The event's number in the chain, from 1.
    pub seq: u64,
    /// The previous link's hash as stored in the event: always on a file's first link
    /// ([`GENESIS`] for a new chain), on others only in logs written before links
    /// left it out (it is then the hash of the link before it in the file).
    pub prev: Option<Hash>,
    /// This link's hash.
    pub hash: Hash,
    /// The first chained event of its file.
    pub first: bool,
}

/// The newest link of a chain: what the next event links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: Hash,
}

impl Link {
    /// The chain's head after this link.
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash,
        }
    }

    /// Reads the link out of an event's details: `Ok(None)` when the event has none, an
    /// error naming what is wrong when it has one that is malformed.
    pub fn from_details(details: &Map<String, Value>) -> Result<Option<Link>, String> {
        let Some(chain) = details
            .get(RESERVED_DETAILS_KEY)
            .and_then(Value::as_object)
            .and_then(|reserved| reserved.get(CHAIN_KEY))
        else {
            return Ok(None);
        };
        let chain = chain
            .as_object()
            .ok_or("details._audit.chain is not an object")?;
        let seq = chain
            .get("seq")
            .and_then(Value::as_u64)
            .filter(|&s| s > 0)
            .ok_or("details._audit.chain.seq is not a positive integer")?;
        let hex = |key: &str| {
            chain
                .get(key)
                .and_then(Value::as_str)
                .and_then(from_hex)
                .ok_or(format!("details._audit.chain.{key} is not 64 hex digits"))
        };
        let first = match chain.get("first") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("details._audit.chain.first is not a boolean".to_owned()),
        };
        let prev = match chain.get("prev") {
            None if first => {
                return Err("details._audit.chain.prev is missing from a file's first link".into());
            }
            None => None,
            Some(_) => Some(hex("prev")?),
        };
        Ok(Some(Link {
            seq,
            prev,
            hash: hex("hash")?,
            first,
        }))
    }
}

/// What the next event's link is made from: the previous hash, its number, and whether it
/// is its file's first link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// The previous link's hash.
    pub prev: Hash,
    /// The next sequence number.
    pub seq: u64,
    /// Whether the next event is its file's first chained one.
    pub first: bool,
}

impl Next {
    /// A new chain: sequence number 1 after [`GENESIS`].
    pub const GENESIS: Next = Next {
        prev: GENESIS,
        seq: 1,
        first: true,
    };

    /// The link after `head` in the same file (`first: false`) or as a new file's first.
    pub fn after(head: Head, first: bool) -> Next {
        Next {
            prev: head.hash,
            seq: head.seq.saturating_add(1),
            first,
        }
    }

    /// The link for an event with this timestamp (27 ASCII bytes) and content hash.
    pub fn link(&self, timestamp: &[u8], content: &Hash) -> Link {
        Link {
            seq: self.seq,
            prev: self.first.then_some(self.prev),
            hash: link_hash(&self.prev, self.seq, self.first, timestamp, content),
            first: self.first,
        }
    }
}

/// The link's hash (see the module's recipe).
pub fn link_hash(prev: &Hash, seq: u64, first: bool, timestamp: &[u8], content: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update([u8::from(first)]);
    h.update(timestamp);
    h.update(content);
    h.finalize().into()
}

/// The content hash of an event: SHA-256 of the canonical JSON of its fields other than the
/// timestamp, with `details._audit.chain` left out (and `_audit` with it when nothing else is
/// in it). An empty error is no error (`null`), as every reader reads it.
pub fn content_hash(
    action_type: &str,
    status: &str,
    details: &Map<String, Value>,
    error: Option<&str>,
) -> Hash {
    thread_local! {
        // The canonical text is hashed as a whole: one buffer per thread, not one per event.
        static TEXT: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }
    let mut out = TEXT.try_with(Cell::take).unwrap_or_default();
    out.clear();
    out.extend_from_slice(br#"{"action_type":"#);
    canonical::write_string(&mut out, action_type);
    out.extend_from_slice(br#","details":"#);
    write_details_without_link(&mut out, details);
    out.extend_from_slice(br#","error":"#);
    match error.filter(|e| !e.is_empty()) {
        Some(e) => canonical::write_string(&mut out, e),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","status":"#);
    canonical::write_string(&mut out, status);
    out.push(b'}');
    let hash = Sha256::digest(&out).into();
    // A huge event's buffer is not kept for the thread's next, small one.
    if out.capacity() <= 64 * 1024 {
        let _ = TEXT.try_with(|slot| slot.set(out));
    }
    hash
}

fn write_details_without_link(out: &mut Vec<u8>, details: &Map<String, Value>) {
    let reserved = details.get(RESERVED_DETAILS_KEY).and_then(Value::as_object);
    let Some(reserved) = reserved.filter(|r| r.contains_key(CHAIN_KEY)) else {
        canonical::write_object(out, details.iter());
        return;
    };
    let rest: Map<String, Value> = reserved
        .iter()
        .filter(|(k, _)| *k != CHAIN_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let rest = Value::Object(rest);
    let key = RESERVED_DETAILS_KEY.to_owned();
    let members = details.iter().filter_map(|(k, v)| {
        if k != RESERVED_DETAILS_KEY {
            Some((k, v))
        } else if rest.as_object().is_some_and(|r| !r.is_empty()) {
            Some((&key, &rest))
        } else {
            None
        }
    });
    canonical::write_object(out, members);
}

/// The details as a chained event stores them: `_audit` last, with `chain` (a `null`
/// placeholder that the writer replaces under the lock) as its last member, so that the
/// placeholder is the last four bytes before the details' two closing braces. A caller's
/// `_audit` that is not an object is kept as `_audit.value`.
pub(crate) fn details_with_placeholder(details: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::with_capacity(details.len() + 1);
    let mut reserved = Map::new();
    for (k, v) in details {
        if k == RESERVED_DETAILS_KEY {
            match v {
                Value::Object(r) => {
                    for (rk, rv) in r {
                        if rk != CHAIN_KEY {
                            reserved.insert(rk.clone(), rv.clone());
                        }
                    }
                }
                other => {
                    reserved.insert("value".to_owned(), other.clone());
                }
            }
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    reserved.insert(CHAIN_KEY.to_owned(), Value::Null);
    out.insert(RESERVED_DETAILS_KEY.to_owned(), Value::Object(reserved));
    out
}

/// Appends the link's JSON text, with every `"` written as `quote`.
pub(crate) fn write_link(out: &mut Vec<u8>, link: &Link, quote: &[u8]) {
    // Written once per event under the log's lock: the hex is made on the stack and each
    // piece appended whole.
    let key = |out: &mut Vec<u8>, name: &[u8]| {
        out.extend_from_slice(quote);
        out.extend_from_slice(name);
        out.extend_from_slice(quote);
        out.push(b':');
    };
    let hex = |out: &mut Vec<u8>, name: &[u8], hash: &Hash| {
        out.push(b',');
        key(out, name);
        out.extend_from_slice(quote);
        out.extend_from_slice(&hex32(hash));
        out.extend_from_slice(quote);
    };
    out.reserve(160 + 12 * quote.len());
    out.push(b'{');
    key(out, b"seq");
    crate::storage::encode::write_u64(out, link.seq);
    if let Some(prev) = &link.prev {
        hex(out, b"prev", prev);
    }
    hex(out, b"hash", &link.hash);
    if link.first {
        out.push(b',');
        key(out, b"first");
        out.extend_from_slice(b"true");
    }
    out.push(b'}');
}

/// A hash's 64 lowercase hex digits.
fn hex32(hash: &Hash) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(hash) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
    out
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    String::from_utf8(out).unwrap_or_default()
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend(
        bytes
            .iter()
            .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]),
    );
}

/// Parses exactly `N` bytes of hex (either case).
pub fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    // Every event's link holds two hashes, and `auditlog verify` reads millions: a table,
    // not a char conversion per digit.
    const NOT_HEX: u8 = 0xff;
    static DIGIT: [u8; 256] = {
        let mut table = [NOT_HEX; 256];
        let mut i = 0;
        while i < 10 {
            table[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            table[b'a' as usize + i] = 10 + i as u8;
            table[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        table
    };
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (high, low) = (DIGIT[usize::from(pair[0])], DIGIT[usize::from(pair[1])]);
        bad |= high | low;
        *byte = high << 4 | (low & 0xf);
    }
    (bad & 0xf0 == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_link_reads_back_and_its_content_ignores_the_link() {
        let details = json!({"lr": 0.1, "_audit": {"wall_clock": "x"}});
        let details = details.as_object().unwrap();
        let placed = details_with_placeholder(details);
        assert_eq!(
            serde_json::to_string(&placed).unwrap(),
            r#"{"lr":0.1,"_audit":{"wall_clock":"x","chain":null}}"#
        );
        let link = Next::GENESIS.link(b"2026-05-27T14:30:00.123456Z", &[7; 32]);
        let mut text = Vec::new();
        write_link(&mut text, &link, b"\"");
        let mut stored = placed.clone();
        stored["_audit"]["chain"] = serde_json::from_slice(&text).unwrap();
        assert_eq!(Link::from_details(&stored).unwrap(), Some(link));
        assert_eq!(
            content_hash("a", "success", &stored, None),
            content_hash("a", "success", details, Some(""))
        );
        // Without wall_clock, `_audit` goes away entirely.
        let bare = json!({"lr": 0.1}).as_object().unwrap().clone();
        let mut stored = details_with_placeholder(&bare);
        stored["_audit"]["chain"] = json!({});
        assert_eq!(
            content_hash("a", "success", &stored, None),
            content_hash("a", "success", &bare, None)
        );
        assert_ne!(
            content_hash("a", "success", &bare, None),
            content_hash("a", "failed", &bare, None)
        );
    }

    #[test]
    fn only_a_files_first_link_stores_prev() {
        let ts = b"2026-05-27T14:30:00.123456Z";
        let first = Next::GENESIS.link(ts, &[7; 32]);
        let next = Next::after(first.head(), false).link(ts, &[8; 32]);
        let text = |link: &Link| {
            let mut out = Vec::new();
            write_link(&mut out, link, b"\"");
            String::from_utf8(out).unwrap()
        };
        assert!(text(&first).contains(r#""prev":"0000"#), "{}", text(&first));
        assert_eq!(
            text(&next),
            format!(r#"{{"seq":2,"hash":"{}"}}"#, to_hex(&next.hash))
        );
        // The hash still covers the previous one.
        assert_eq!(next.hash, link_hash(&first.hash, 2, false, ts, &[8; 32]));
        let read = |chain: Value| {
            Link::from_details(json!({"_audit": {"chain": chain}}).as_object().unwrap())
        };
        let hash = to_hex(&next.hash);
        assert_eq!(
            read(json!({"seq": 2, "hash": hash})).unwrap().unwrap().prev,
            None
        );
        let err = read(json!({"seq": 1, "hash": hash, "first": true})).unwrap_err();
        assert!(err.contains("prev is missing"), "{err}");
        let err = read(json!({"seq": 2, "hash": hash, "prev": "xyz"})).unwrap_err();
        assert!(err.contains("prev is not 64 hex"), "{err}");
    }

    #[test]
    fn hex_round_trips() {
        let h: Hash = core::array::from_fn(|i| i as u8 * 7);
        assert_eq!(from_hex::<32>(&to_hex(&h)), Some(h));
        assert_eq!(from_hex::<32>("zz"), None);
        assert_eq!(from_hex::<2>("aBcD"), Some([0xab, 0xcd]));
        for bad in ["0g00", "00 0", "-100", "00\u{e9}"] {
            assert_eq!(from_hex::<2>(bad), None, "{bad:?}");
        }
    }
}
