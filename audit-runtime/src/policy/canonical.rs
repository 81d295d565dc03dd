//! The canonical JSON text of a value, which the keyed hash ([`super::HmacKey`]) and the
//! digests of truncated values ([`super::size_cap`]) are taken over: compact (no whitespace),
//! object keys sorted by their UTF-8 bytes, strings escaped as serde_json escapes them
//! (`"`, `\` and control characters only), numbers as serde_json writes them. For strings,
//! integers, booleans, null and containers of them this is exactly Python's
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`, so an
//! auditor can recompute a digest from the value they hold.

use serde_json::Value;

use crate::MAX_DETAILS_DEPTH;
use crate::storage::encode::{Plain, write_str};

/// The bytes a digest or keyed hash is taken over: the UTF-8 bytes of a string value, the
/// canonical JSON text of any other. `None` for a value nested deeper than
/// [`MAX_DETAILS_DEPTH`] (the event is refused anyway, or the caller falls back).
pub(crate) fn digest_input(value: &Value) -> Option<std::borrow::Cow<'_, [u8]>> {
    match value {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_bytes())),
        other => {
            let mut out = Vec::new();
            write(&mut out, other, MAX_DETAILS_DEPTH)?;
            Some(std::borrow::Cow::Owned(out))
        }
    }
}

/// The canonical JSON text of a details object; `None` when it nests too deep.
pub(crate) fn map_bytes(map: &serde_json::Map<String, Value>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    write_map(&mut out, map, MAX_DETAILS_DEPTH)?;
    Some(out)
}

/// Appends the canonical JSON of `value`; `None` when it nests more than `levels` deep.
/// The recursion is bounded by `levels`.
pub(crate) fn write(out: &mut Vec<u8>, value: &Value, levels: usize) -> Option<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str::<Plain>(out, s),
        Value::Array(items) => {
            let levels = levels.checked_sub(1)?;
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item, levels)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_map(out, map, levels.checked_sub(1)?)?,
    }
    Some(())
}

fn write_map(out: &mut Vec<u8>, map: &serde_json::Map<String, Value>, levels: usize) -> Option<()> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (key, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str::<Plain>(out, key);
        out.push(b':');
        write(out, item, levels)?;
    }
    out.push(b'}');
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(value: &Value) -> String {
        String::from_utf8(digest_input(value).unwrap().into_owned()).unwrap()
    }

    #[test]
    fn canonical_json_sorts_keys_and_has_no_whitespace() {
        assert_eq!(
            text(&json!({"b": [1, "x\n"], "a": {"d": null, "c": true}, "é": -2})),
            r#"{"a":{"c":true,"d":null},"b":[1,"x\n"],"é":-2}"#
        );
        // A string is hashed as its own bytes, not as JSON.
        assert_eq!(text(&json!("s3cret")), "s3cret");
        assert_eq!(text(&json!(1.5)), "1.5");
    }

    #[test]
    fn canonical_json_of_a_too_deep_value_is_none_not_an_overflow() {
        let mut deep = json!(1);
        for _ in 0..MAX_DETAILS_DEPTH + 1 {
            deep = Value::Array(vec![deep]);
        }
        assert!(digest_input(&deep).is_none());
        crate::dismantle(deep);
    }
}
