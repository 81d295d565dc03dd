//! What both log formats share when they turn one event into bytes, before any lock is
//! taken: the checked event ([`Record`]), the encoded bytes with their timestamp placeholder
//! ([`Encoded`], in a buffer reused by the thread's next event), compact JSON as serde_json
//! writes it ([`write_object`]), and the real time added to an event whose timestamp was
//! pushed far ahead.
//!
//! The timestamp is decided only under the log's lock (it must be later than the newest event
//! in the file, whoever wrote it), so both encodings put a fixed-width placeholder at a known
//! offset and the writer patches it in place. Each format's own encoding lives with it
//! (`json::encode`, `csv::encode`).
//!
//! # Why our own JSON writer
//! serde_json's serializer was most of an event's encoding cost: a call per string fragment
//! through `io::Write`, a byte-at-a-time escape scan, and the `Serialize` plumbing around each
//! value. The writer here produces exactly serde_json's compact output for a `Value` (the
//! tests compare the two over random values): a text that needs no escape (most keys and
//! values) is found so eight bytes at a time and copied whole. Floats still go through serde_json, so
//! that their shortest form is always the one it writes. For the CSV file it can write the
//! JSON with every `"` doubled, which is the details cell's quoting, in the same pass.

use std::cell::Cell;

use serde_json::{Map, Number, Value};

use crate::Timestamp;
use crate::event::{RESERVED_DETAILS_KEY, TIMESTAMP_LEN};

/// An event that has been checked and is ready to be encoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record<'a> {
    /// What was done.
    pub(crate) action_type: &'a str,
    /// Whether it worked, as written: `success` or `failed` for an event being logged (the
    /// logging API takes a [`crate::Status`]); an event carried over from an existing log
    /// (a salvage rewrite) keeps whatever status it has.
    pub(crate) status: &'a str,
    /// The details object.
    pub(crate) details: &'a Map<String, Value>,
    /// Why it failed.
    pub(crate) error: Option<&'a str>,
}

impl<'a> Record<'a> {
    /// The same event with other details.
    pub(crate) fn with_details<'b>(&self, details: &'b Map<String, Value>) -> Record<'b>
    where
        'a: 'b,
    {
        Record {
            details,
            ..self.clone()
        }
    }
}

/// `details` plus the real time of an event whose timestamp had to be pushed far past it
/// (the log held a timestamp from the future): `details._audit.wall_clock`. A caller's own
/// `_audit` that is not an object is left alone, and the time goes under `_audit_wall_clock`.
pub(crate) fn with_wall_clock(details: &Map<String, Value>, wall: Timestamp) -> Map<String, Value> {
    let mut details = details.clone();
    let wall = Value::String(wall.to_string());
    match details
        .entry(RESERVED_DETAILS_KEY)
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(reserved) => {
            reserved.insert("wall_clock".to_owned(), wall);
        }
        _ => {
            details.insert(format!("{RESERVED_DETAILS_KEY}_wall_clock"), wall);
        }
    }
    details
}

/// Encoded bytes plus where the timestamp placeholder sits in them.
///
/// The buffer comes from the thread's spare one and goes back to it when this is dropped,
/// so a thread that logs allocates its encoding buffer once, not per event.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub bytes: Vec<u8>,
    pub timestamp_at: usize,
    /// One past the details object's closing `}` (where a chained event's link goes, see
    /// `integrity::writer::splice`).
    pub details_end: usize,
}

/// The largest buffer a thread keeps for its next event: one unusually large event must not
/// pin its size in every thread that ever logged one.
const SPARE_MAX: usize = 64 * 1024;

thread_local! {
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Encoded {
    /// An empty encoding with room for `at_least` bytes, in the thread's spare buffer if it
    /// has one.
    pub(crate) fn start(at_least: usize) -> Encoded {
        let mut bytes = SPARE.try_with(Cell::take).unwrap_or_default();
        bytes.clear();
        bytes.reserve(at_least);
        Encoded {
            bytes,
            timestamp_at: 0,
            details_end: 0,
        }
    }

    pub(crate) fn set_timestamp(&mut self, ts: Timestamp) {
        let at = self.timestamp_at;
        self.bytes[at..at + TIMESTAMP_LEN].copy_from_slice(&ts.to_bytes());
    }
}

impl Drop for Encoded {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.bytes);
        if bytes.capacity() == 0 || bytes.capacity() > SPARE_MAX {
            return;
        }
        bytes.clear();
        // Two encodings alive at once (an event encoded again under the lock) leave the
        // larger buffer behind. During thread exit there is no spare slot: it is just freed.
        let _ = SPARE.try_with(move |spare| {
            let other = spare.take();
            spare.set(if other.capacity() > bytes.capacity() {
                other
            } else {
                bytes
            });
        });
    }
}

/// How the JSON is embedded: as it is (the JSON log), or inside a quoted CSV cell, where
/// every `"` is written twice (RFC 4180, as the csv crate quotes).
pub(crate) trait Quoting {
    /// What one `"` of the JSON text becomes.
    const QUOTE: &'static [u8];
}

/// JSON as it is.
pub(crate) enum Plain {}

/// JSON inside a quoted CSV cell.
pub(crate) enum InCsvCell {}

impl Quoting for Plain {
    const QUOTE: &'static [u8] = b"\"";
}

impl Quoting for InCsvCell {
    const QUOTE: &'static [u8] = b"\"\"";
}

/// Appends `map` as serde_json's compact JSON (`serde_json::to_writer` of it), quoted as `Q`
/// says. Fails only where serde_json would.
///
/// Recursive, like serde_json's serializer, which it replaces: details are at most
/// [`crate::MAX_DETAILS_DEPTH`] deep when they are logged, and values read back from a log
/// at most as deep as serde_json's parser accepts (128).
pub(crate) fn write_object<Q: Quoting>(
    out: &mut Vec<u8>,
    map: &Map<String, Value>,
) -> Result<(), serde_json::Error> {
    out.push(b'{');
    let mut first = true;
    for (key, value) in map {
        if !first {
            out.push(b',');
        }
        first = false;
        write_str::<Q>(out, key);
        out.push(b':');
        write_value::<Q>(out, value)?;
    }
    out.push(b'}');
    Ok(())
}

pub(crate) fn write_value<Q: Quoting>(
    out: &mut Vec<u8>,
    value: &Value,
) -> Result<(), serde_json::Error> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_str::<Q>(out, s),
        Value::Array(items) => {
            out.push(b'[');
            let mut first = true;
            for item in items {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_value::<Q>(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object::<Q>(out, map)?,
    }
    Ok(())
}

fn write_number(out: &mut Vec<u8>, n: &Number) -> Result<(), serde_json::Error> {
    // An integer has one decimal form; a float's shortest form is serde_json's to choose.
    if let Some(u) = n.as_u64() {
        write_u64(out, u);
    } else if let Some(i) = n.as_i64() {
        if i < 0 {
            out.push(b'-');
        }
        write_u64(out, i.unsigned_abs());
    } else {
        serde_json::to_writer(&mut *out, n)?;
    }
    Ok(())
}

/// `"00"` to `"99"`, two bytes each.
const TWO_DIGITS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&TWO_DIGITS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&TWO_DIGITS[pair..pair + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[at..]);
}

/// What serde_json writes after a `\` for each byte it escapes (`u` means `\u00XX`), or 0
/// for a byte written as it is: `"`, `\` and the control characters below 0x20. The same
/// table as serde_json's.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
pub(crate) fn write_str<Q: Quoting>(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2 * Q::QUOTE.len());
    out.extend_from_slice(Q::QUOTE);
    // Keys, actions and most values need no escape at all: then the text is copied whole.
    if needs_escape(bytes) {
        write_escaped::<Q>(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(Q::QUOTE);
}

#[inline(never)]
fn write_escaped<Q: Quoting>(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut run = 0;
    let mut at = find_escape(bytes, 0);
    while let Some(&byte) = bytes.get(at) {
        out.extend_from_slice(&bytes[run..at]);
        match ESCAPE[byte as usize] {
            b'u' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xF)],
                ]);
            }
            b'"' => {
                out.push(b'\\');
                out.extend_from_slice(Q::QUOTE);
            }
            escape => out.extend_from_slice(&[b'\\', escape]),
        }
        run = at + 1;
        at = find_escape(bytes, run);
    }
    out.extend_from_slice(&bytes[run..]);
}

// Exact tests for "some byte of the word is ...": below 0x20, or equal to `"` or `\` (a byte
// equal to c makes `word ^ c*ONES` have a zero byte). Bit hacks from
// <https://graphics.stanford.edu/~seander/bithacks.html#HasLessInWord>; the borrows they
// ignore can only mark a byte above one that is already marked, so "none marked" is exact.
macro_rules! word_needs_escape {
    ($name:ident, $word:ty) => {
        #[inline(always)]
        fn $name(word: $word) -> bool {
            const ONES: $word = <$word>::MAX / 0xFF;
            const HIGH: $word = ONES * 0x80;
            let quote = word ^ (ONES * b'"' as $word);
            let backslash = word ^ (ONES * b'\\' as $word);
            let marks = (word.wrapping_sub(ONES * 0x20) & !word)
                | (quote.wrapping_sub(ONES) & !quote)
                | (backslash.wrapping_sub(ONES) & !backslash);
            marks & HIGH != 0
        }
    };
}
word_needs_escape!(u64_needs_escape, u64);
word_needs_escape!(u32_needs_escape, u32);

/// Whether any byte of `bytes` is one JSON escapes: whole words at a time, the last one
/// overlapping the one before, so that no byte is looked at alone unless the text is
/// shorter than four bytes.
#[inline]
fn needs_escape(bytes: &[u8]) -> bool {
    if let Some(last) = bytes.last_chunk::<8>() {
        let (words, _) = bytes.as_chunks::<8>();
        words
            .iter()
            .any(|word| u64_needs_escape(u64::from_ne_bytes(*word)))
            || u64_needs_escape(u64::from_ne_bytes(*last))
    } else if let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        u32_needs_escape(u32::from_ne_bytes(*first)) || u32_needs_escape(u32::from_ne_bytes(*last))
    } else {
        bytes.iter().any(|&b| ESCAPE[b as usize] != 0)
    }
}

/// The index of the first byte at or after `from` that JSON escapes, or `bytes.len()`.
fn find_escape(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    if let Some(rest) = bytes.get(from..) {
        let (words, _) = rest.as_chunks::<8>();
        for word in words {
            if u64_needs_escape(u64::from_ne_bytes(*word)) {
                break;
            }
            at += 8;
        }
    }
    while let Some(&byte) = bytes.get(at) {
        if ESCAPE[byte as usize] != 0 {
            break;
        }
        at += 1;
    }
    at
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Text with what escaping and quoting must get right: control characters, quotes,
    /// backslashes, commas, formula triggers, and any Unicode (multi-byte, astral, U+2028).
    pub(crate) fn arb_text() -> impl Strategy<Value = String> {
        let special = prop::sample::select(vec![
            '"', '\\', '\'', ',', '\n', '\r', '\t', '\u{0}', '\u{8}', '\u{c}', '\u{1f}', '\u{7f}',
            '=', '+', '-', '@', '/', ' ', 'é', '\u{2028}', '\u{fffd}', '😀',
        ]);
        let char =
            prop_oneof![3 => any::<char>(), 2 => special, 3 => proptest::char::range('a', 'z')];
        prop::collection::vec(char, 0..40).prop_map(String::from_iter)
    }

    fn arb_number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(vec![
                0.0,
                -0.0,
                0.1,
                1.0,
                -1.5,
                1e21,
                1e-7,
                f64::MAX,
                f64::MIN_POSITIVE,
                5e-324,
            ])
            .prop_map(Value::from),
            prop::sample::select(vec![0, 9, 10, 99, 100, u64::MAX]).prop_map(Value::from),
            prop::sample::select(vec![i64::MIN, -1, -10, -100]).prop_map(Value::from),
        ]
    }

    /// Any JSON value, a few levels deep.
    pub(crate) fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            arb_number(),
            arb_text().prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((arb_text(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    /// A details object.
    pub(crate) fn arb_details() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::vec((arb_text(), arb_value()), 0..8)
            .prop_map(|entries| entries.into_iter().collect())
    }

    fn plain(map: &Map<String, Value>) -> Vec<u8> {
        let mut out = Vec::new();
        write_object::<Plain>(&mut out, map).unwrap();
        out
    }

    fn in_csv(map: &Map<String, Value>) -> Vec<u8> {
        let mut out = Vec::new();
        write_object::<InCsvCell>(&mut out, map).unwrap();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn objects_are_written_as_serde_json_writes_them(details in arb_details()) {
            let expected = serde_json::to_vec(&details).unwrap();
            prop_assert_eq!(plain(&details), expected.clone());
            let doubled = String::from_utf8(expected).unwrap().replace('"', "\"\"");
            prop_assert_eq!(in_csv(&details), doubled.into_bytes());
        }

        #[test]
        fn strings_are_escaped_as_serde_json_escapes_them(text in arb_text()) {
            let mut out = Vec::new();
            write_str::<Plain>(&mut out, &text);
            prop_assert_eq!(out, serde_json::to_vec(&text).unwrap());
        }
    }

    #[test]
    fn every_byte_is_escaped_as_serde_json_escapes_it_wherever_it_sits() {
        // Each ASCII character at every offset of texts of 1 to 17 bytes, so that it lands
        // in every word of the scan (the overlapping last one included) and in texts too
        // short for words.
        let filler = "abcdefghijklmnopq";
        for c in (0u8..0x80).map(char::from).chain(['é', '\u{2028}', '😀']) {
            for len in 1..=filler.len() {
                for at in 0..len {
                    let text = format!("{}{c}{}", &filler[..at], &filler[at + 1..len]);
                    let mut out = Vec::new();
                    write_str::<Plain>(&mut out, &text);
                    assert_eq!(out, serde_json::to_vec(&text).unwrap(), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn integers_at_every_width_and_non_finite_floats_as_logged() {
        let mut details = Map::new();
        for digits in 0..20 {
            let n = 10u64.pow(digits);
            details.insert(format!("u{digits}"), json!([n - 1, n, n + 1]));
            let i = -(n as i64);
            details.insert(format!("i{digits}"), json!([i - 1, i, i + 1]));
        }
        details.insert("max".to_owned(), json!([u64::MAX, i64::MIN, i64::MAX]));
        // What the loggers store for non-finite floats (see `event::finite`).
        details.insert(
            "non_finite".to_owned(),
            crate::to_value(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5]).unwrap(),
        );
        assert_eq!(plain(&details), serde_json::to_vec(&details).unwrap());
    }

    #[test]
    fn details_as_deep_as_the_logger_accepts() {
        let mut value = json!("leaf \"quoted\"");
        for level in 0..crate::MAX_DETAILS_DEPTH - 1 {
            value = if level % 2 == 0 {
                json!([value, level])
            } else {
                json!({ "k": value })
            };
        }
        let details = Map::from_iter([("deep".to_owned(), value)]);
        assert_eq!(plain(&details), serde_json::to_vec(&details).unwrap());
    }

    #[test]
    fn buffers_are_reused_by_the_next_event_on_the_thread() {
        let mut first = Encoded::start(100);
        first.bytes.extend_from_slice(b"event");
        let at = first.bytes.as_ptr();
        drop(first);
        let second = Encoded::start(10);
        assert!(second.bytes.is_empty());
        assert_eq!(second.bytes.as_ptr(), at);
        // Too large to keep.
        drop(second);
        let big = Encoded::start(SPARE_MAX + 1);
        drop(big);
        let next = Encoded::start(0);
        assert!(next.bytes.capacity() <= SPARE_MAX);
    }

    /// A failed `tag_add` with these details and error.
    pub(crate) fn record<'a>(
        details: &'a Map<String, Value>,
        error: Option<&'a str>,
    ) -> Record<'a> {
        Record {
            action_type: "tag_add",
            status: crate::Status::Failed.as_str(),
            details,
            error,
        }
    }
}
