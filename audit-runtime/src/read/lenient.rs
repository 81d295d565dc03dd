//! Lenient JSON: what Python's `json.dump` writes but strict parsers refuse. That is the bare
//! `NaN`, `Infinity` and `-Infinity` tokens it writes for non-finite floats, and lone
//! surrogate escapes such as `"\ud800"` (half of a UTF-16 pair, which Python's `str` holds
//! for bytes that were not valid UTF-8, e.g. an undecodable file name).
//!
//! Strict parsers (serde_json included) refuse both, yet a log containing them is not
//! corrupt: it is what the reference implementation writes, and Python reads it back. We read
//! such a value by first trying serde_json as is (the fast path, taken by every file this
//! crate writes) and only when that fails, mending a copy and trying again. Non-finite values
//! come back as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, the same spelling
//! [`crate::to_value`] writes, so a log continued by this crate stays uniform; a lone surrogate
//! comes back as U+FFFD (Rust strings cannot hold it), and the caller is told how many.
//!
//! This module owns only the rewrite; it knows nothing about files or events.

use serde_json::Value;

/// A value that is not JSON even after quoting the non-finite tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LenientError {
    /// Byte index of the problem within the parsed bytes (best effort: serde_json reports a
    /// line and column, which we map back onto the original bytes).
    pub index: usize,
    /// What is wrong, without serde_json's "at line .. column .." suffix.
    pub message: String,
}

/// What had to be mended in a value for a strict parser to take it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Bare `NaN` / `Infinity` / `-Infinity` tokens read as strings.
    pub non_finite_tokens: u32,
    /// Lone UTF-16 surrogate escapes (`"\ud800"`) read as U+FFFD.
    pub lone_surrogates: u32,
}

impl Repairs {
    /// Nothing was mended.
    pub fn is_none(&self) -> bool {
        *self == Repairs::default()
    }
}

/// Parses one JSON value, accepting bare `NaN` / `Infinity` / `-Infinity` outside strings and
/// lone surrogate escapes inside them. Returns the value and what was mended.
///
/// ```
/// use audit_runtime::read::lenient::parse_value;
/// let (value, repairs) = parse_value(br#"{"loss": NaN, "best": -Infinity, "file": "a\udc80b"}"#).unwrap();
/// assert_eq!(value, serde_json::json!({"loss": "NaN", "best": "-Infinity", "file": "a\u{fffd}b"}));
/// assert_eq!((repairs.non_finite_tokens, repairs.lone_surrogates), (2, 1));
/// ```
pub fn parse_value(bytes: &[u8]) -> Result<(Value, Repairs), LenientError> {
    parse_with(bytes, |b| serde_json::from_slice::<Value>(b))
}

/// Runs `parse` on `bytes`, and when it fails and the bytes hold something Python's `json`
/// writes but strict JSON refuses, once more on a mended copy (see [`repair`]). Returns the
/// result and what was mended (nothing on the fast path).
///
/// `parse` is called with a slice that lives only for the call, so it can deserialise
/// borrowed data as long as what it returns is owned.
///
/// ```
/// use audit_runtime::read::lenient::parse_with;
/// #[derive(serde::Deserialize)]
/// struct Loss { last_loss: String }
///
/// // Only the field wanted, from what Python's `json.dump` wrote:
/// let loss_of = |bytes: &[u8]| serde_json::from_slice::<Loss>(bytes);
/// let (loss, repairs) = parse_with(br#"{"last_loss": NaN, "epoch": 3}"#, loss_of)?;
/// assert_eq!(loss.last_loss, "NaN");
/// assert_eq!(repairs.non_finite_tokens, 1);
///
/// // Strict JSON takes the fast path: nothing mended.
/// let (_, repairs) = parse_with(br#"{"last_loss": "0.25"}"#, loss_of)?;
/// assert!(repairs.is_none());
/// # Ok::<(), audit_runtime::read::lenient::LenientError>(())
/// ```
pub fn parse_with<T>(
    bytes: &[u8],
    mut parse: impl FnMut(&[u8]) -> Result<T, serde_json::Error>,
) -> Result<(T, Repairs), LenientError> {
    let first = match parse(bytes) {
        Ok(value) => return Ok((value, Repairs::default())),
        Err(err) => err,
    };
    let Some(repaired) = repair(bytes) else {
        return Err(lenient_error(bytes, &first, &[]));
    };
    match parse(&repaired.bytes) {
        Ok(value) => Ok((value, repaired.repairs)),
        Err(err) => Err(lenient_error(&repaired.bytes, &err, &repaired.inserted)),
    }
}

/// The bytes with Python's departures from strict JSON mended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The rewritten value.
    pub bytes: Vec<u8>,
    /// What was mended.
    pub repairs: Repairs,
    /// Indices in `bytes` of the inserted quote characters, ascending (to map errors back).
    pub inserted: Vec<usize>,
}

/// Mends what Python's `json.dump` writes but strict parsers refuse: quotes every bare
/// `NaN`, `Infinity` and `-Infinity` outside strings, and replaces every lone surrogate
/// escape (a `\uD800`–`\uDFFF` that is not half of a pair; Python writes them for text that
/// was not valid UTF-8, such as an undecodable file name) by `\ufffd`, U+FFFD, the
/// replacement character. Valid pairs are left alone. `None` when there is nothing to mend
/// (so the caller need not copy).
///
/// ```
/// use audit_runtime::read::lenient::repair;
/// let mended = repair(br#"{"loss": -Infinity, "file": "a\udc80b", "s": "NaN is text here"}"#).unwrap();
/// assert_eq!(mended.bytes, br#"{"loss": "-Infinity", "file": "a\ufffdb", "s": "NaN is text here"}"#);
/// assert_eq!((mended.repairs.non_finite_tokens, mended.repairs.lone_surrogates), (1, 1));
/// assert!(repair(br#"{"loss": 0.25}"#).is_none());
/// ```
pub fn repair(bytes: &[u8]) -> Option<Repaired> {
    const TOKENS: [&[u8]; 3] = [b"NaN", b"Infinity", b"-Infinity"];
    let mut out: Option<Repaired> = None;
    let mut copied = 0; // bytes[..copied] are already in `out`
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                Some(k) if bytes[i + k] == b'\\' => {
                    let at = i + k;
                    i = at + 2;
                    let Some(unit) = hex_escape(bytes, at) else {
                        continue;
                    };
                    i = at + 6;
                    if (0xD800..0xDC00).contains(&unit)
                        && hex_escape(bytes, at + 6).is_some_and(|u| (0xDC00..0xE000).contains(&u))
                    {
                        i = at + 12; // a valid pair
                    } else if (0xD800..0xE000).contains(&unit) {
                        let r = out.get_or_insert_with(|| Repaired::with_capacity(bytes.len()));
                        r.bytes.extend_from_slice(&bytes[copied..at]);
                        // Same length as the escape it replaces: error offsets stay right.
                        r.bytes.extend_from_slice(b"\\ufffd");
                        r.repairs.lone_surrogates += 1;
                        copied = at + 6;
                    }
                }
                Some(k) => {
                    in_string = false;
                    i += k + 1;
                }
                None => break,
            }
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if matches!(b, b'N' | b'I' | b'-')
            && let Some(token) = TOKENS.iter().find(|t| bytes[i..].starts_with(t))
        {
            let q = out.get_or_insert_with(|| Repaired::with_capacity(bytes.len()));
            q.bytes.extend_from_slice(&bytes[copied..i]);
            q.inserted.push(q.bytes.len());
            q.bytes.push(b'"');
            q.bytes.extend_from_slice(token);
            q.inserted.push(q.bytes.len());
            q.bytes.push(b'"');
            q.repairs.non_finite_tokens += 1;
            i += token.len();
            copied = i;
            continue;
        }
        i += 1;
    }
    let mut q = out?;
    q.bytes.extend_from_slice(&bytes[copied..]);
    Some(q)
}

impl Repaired {
    fn with_capacity(len: usize) -> Self {
        Repaired {
            bytes: Vec::with_capacity(len + 16),
            repairs: Repairs::default(),
            inserted: Vec::new(),
        }
    }
}

/// The UTF-16 code unit of a `\uXXXX` escape starting at `at` (the backslash).
fn hex_escape(bytes: &[u8], at: usize) -> Option<u16> {
    let escape = bytes.get(at..at + 6)?;
    if escape[..2] != *b"\\u" {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

/// Maps serde_json's line/column onto a byte index of the original bytes.
fn lenient_error(parsed: &[u8], err: &serde_json::Error, inserted: &[usize]) -> LenientError {
    let mut index = 0;
    let mut line = 1;
    while line < err.line() {
        match memchr::memchr(b'\n', &parsed[index..]) {
            Some(k) => index += k + 1,
            None => break,
        }
        line += 1;
    }
    index = (index + err.column().saturating_sub(1)).min(parsed.len());
    let shift = inserted.partition_point(|&at| at < index);
    let text = err.to_string();
    let message = match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    };
    LenientError {
        index: index - shift,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_json_takes_the_fast_path() {
        let (v, n) = parse_value(br#"{"a": [1, "NaN", null, "\ud83d\ude00"]}"#).unwrap();
        assert_eq!(v, json!({"a": [1, "NaN", null, "😀"]}));
        assert!(n.is_none());
    }

    #[test]
    fn tokens_inside_strings_are_left_alone() {
        let (v, n) =
            parse_value(br#"{"NaN": "Infinity \" NaN", "x": NaN, "y": [-Infinity, Infinity]}"#)
                .unwrap();
        assert_eq!(
            v,
            json!({"NaN": "Infinity \" NaN", "x": "NaN", "y": ["-Infinity", "Infinity"]})
        );
        assert_eq!(n.non_finite_tokens, 3);
    }

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        // As Python writes them: json.dumps("\udc80") for an undecodable byte, a high half
        // alone, one before a non-surrogate escape, one at the very end, and a real pair.
        let text = br#"{"f": "a\udc80b", "g": ["\ud800", "\ud800\u0041", "\ud83d\ude00"], "\udfff": "\\ud800", "h": NaN, "z": "\ud800"}"#;
        let (v, n) = parse_value(text).unwrap();
        assert_eq!(
            v,
            json!({"f": "a\u{fffd}b", "g": ["\u{fffd}", "\u{fffd}A", "😀"], "\u{fffd}": "\\ud800", "h": "NaN", "z": "\u{fffd}"})
        );
        assert_eq!(
            n,
            Repairs {
                non_finite_tokens: 1,
                lone_surrogates: 5
            }
        );
        let repaired = repair(text).unwrap();
        assert_eq!(repaired.repairs, n);
        // Only the NaN quotes change the length.
        assert_eq!(repaired.bytes.len(), text.len() + 2);
    }

    #[test]
    fn errors_point_into_the_original_bytes() {
        let text = br#"{"x": NaN, "y": tru}"#;
        let err = parse_value(text).unwrap_err();
        assert!(err.index >= 16 && err.index <= 20, "{err:?}");
        assert!(!err.message.contains(" at line "), "{err:?}");

        let err = parse_value(b"{\n  \"a\": 1,\n  \"b\": x\n}").unwrap_err();
        assert_eq!(
            &b"{\n  \"a\": 1,\n  \"b\": x\n}"[err.index..err.index + 1],
            b"x"
        );
    }

    #[test]
    fn not_json_at_all_is_an_error() {
        assert!(parse_value(b"{\"a\":").is_err());
        assert!(parse_value(b"NaNa").is_err());
    }
}
