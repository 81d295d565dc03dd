//! Lenient JSON: the bare `NaN`, `Infinity` and `-Infinity` tokens that Python's `json.dump`
//! writes for non-finite floats.
//!
//! Strict parsers (serde_json included) refuse those tokens, yet a log containing them is not
//! corrupt: it is what the reference implementation writes when a loss goes NaN. We read such
//! a value by first trying serde_json as is (the fast path, taken by every file this crate
//! writes) and only when that fails, quoting the bare tokens outside strings and trying again.
//! The values come back as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, the same
//! spelling [`crate::finite`] writes, so a log continued by this crate stays uniform.
//!
//! This module owns only the token rewrite; it knows nothing about files or events.

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

/// Parses one JSON value, accepting bare `NaN` / `Infinity` / `-Infinity` outside strings.
/// Returns the value and how many such tokens were converted to strings.
///
/// ```
/// use audit_runtime::read::lenient::parse_value;
/// let (value, converted) = parse_value(br#"{"loss": NaN, "best": -Infinity}"#).unwrap();
/// assert_eq!(value, serde_json::json!({"loss": "NaN", "best": "-Infinity"}));
/// assert_eq!(converted, 2);
/// ```
pub fn parse_value(bytes: &[u8]) -> Result<(Value, u32), LenientError> {
    parse_with(bytes, |b| serde_json::from_slice::<Value>(b))
}

/// Runs `parse` on `bytes`, and when it fails and the bytes contain bare non-finite tokens,
/// once more on a copy with those tokens quoted. Returns the result and the number of
/// converted tokens (0 on the fast path).
///
/// `parse` is called with a slice that lives only for the call, so it can deserialise
/// borrowed data as long as what it returns is owned.
pub fn parse_with<T>(
    bytes: &[u8],
    mut parse: impl FnMut(&[u8]) -> Result<T, serde_json::Error>,
) -> Result<(T, u32), LenientError> {
    let first = match parse(bytes) {
        Ok(value) => return Ok((value, 0)),
        Err(err) => err,
    };
    let Some(quoted) = quote_non_finite(bytes) else {
        return Err(lenient_error(bytes, &first, &[]));
    };
    match parse(&quoted.bytes) {
        Ok(value) => Ok((value, quoted.converted)),
        Err(err) => Err(lenient_error(&quoted.bytes, &err, &quoted.inserted)),
    }
}

/// The bytes with their non-finite tokens quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted {
    /// The rewritten value.
    pub bytes: Vec<u8>,
    /// How many tokens were quoted.
    pub converted: u32,
    /// Indices in `bytes` of the inserted quote characters, ascending (to map errors back).
    pub inserted: Vec<usize>,
}

/// Quotes every bare `NaN`, `Infinity` and `-Infinity` outside strings. `None` when there is
/// none (so the caller need not copy).
pub fn quote_non_finite(bytes: &[u8]) -> Option<Quoted> {
    const TOKENS: [&[u8]; 3] = [b"NaN", b"Infinity", b"-Infinity"];
    let mut out: Option<Quoted> = None;
    let mut copied = 0; // bytes[..copied] are already in `out`
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                Some(k) if bytes[i + k] == b'\\' => i += k + 2,
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
            let q = out.get_or_insert_with(|| Quoted {
                bytes: Vec::with_capacity(bytes.len() + 16),
                converted: 0,
                inserted: Vec::new(),
            });
            q.bytes.extend_from_slice(&bytes[copied..i]);
            q.inserted.push(q.bytes.len());
            q.bytes.push(b'"');
            q.bytes.extend_from_slice(token);
            q.inserted.push(q.bytes.len());
            q.bytes.push(b'"');
            q.converted += 1;
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
        let (v, n) = parse_value(br#"{"a": [1, "NaN", null]}"#).unwrap();
        assert_eq!(v, json!({"a": [1, "NaN", null]}));
        assert_eq!(n, 0);
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
        assert_eq!(n, 3);
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
