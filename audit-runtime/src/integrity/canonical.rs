//! RFC 8785 (JSON Canonicalization Scheme, JCS) for the values an event holds, with one
//! documented deviation: integers that serde_json holds exactly (`u64`/`i64`) are written as
//! their exact decimal digits instead of going through an IEEE double. For every integer
//! up to 2^53 in magnitude this is what RFC 8785 writes; above it RFC 8785 would round
//! (`9007199254740993` becomes `9007199254740992`), which would let an edit of the last
//! digits of a large id go unnoticed.
//!
//! - Objects: members sorted by their keys' UTF-16 code units, no whitespace.
//! - Strings: `"` and `\` escaped, control characters below U+0020 as `\b \t \n \f \r` or
//!   `\u00xx` (lowercase hex); everything else as UTF-8, unescaped.
//! - Floats: ECMAScript's `Number.prototype.toString` (the shortest digits that round-trip,
//!   decimal notation from 1e-6 to below 1e21, otherwise `d.ddde±x`); `-0` is `0`.

use serde_json::{Map, Number, Value};

use crate::storage::encode::{Plain, write_str, write_u64};

/// Appends the canonical form of `value` to `out`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map.iter()),
    }
}

/// Objects up to this many members are sorted on the stack; larger ones in a `Vec`.
const SORTED_ON_STACK: usize = 16;

/// Appends the canonical form of an object given as its members (in any order).
pub fn write_object<'a, I>(out: &mut Vec<u8>, members: I)
where
    I: Iterator<Item = (&'a String, &'a Value)>,
{
    static NO_KEY: String = String::new();
    static NO_VALUE: Value = Value::Null;
    let mut on_stack = [(&NO_KEY, &NO_VALUE); SORTED_ON_STACK];
    let mut spilled = Vec::new();
    let mut len = 0;
    let mut plain = true;
    for member in members {
        plain &= is_plain(member.0);
        if len < SORTED_ON_STACK {
            on_stack[len] = member;
        } else {
            if len == SORTED_ON_STACK {
                spilled.reserve(2 * SORTED_ON_STACK);
                spilled.extend_from_slice(&on_stack);
            }
            spilled.push(member);
        }
        len += 1;
    }
    let members = if len <= SORTED_ON_STACK {
        &mut on_stack[..len]
    } else {
        &mut spilled[..]
    };
    // Keys are unique, so an unstable sort gives the one order.
    if plain {
        members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    } else {
        members.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    out.push(b'{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, key);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

/// Whether `key` sorts the same by its UTF-8 bytes as by its UTF-16 code units among other
/// such keys. RFC 8785 orders keys by UTF-16 code units; UTF-8's byte order is the code
/// points' order, which differs from UTF-16's only between U+E000..U+FFFF and the characters
/// above U+FFFF (surrogate pairs sort before the former in UTF-16), and only those have a
/// lead byte of 0xEE or more in UTF-8. Nearly every key is plain, and is compared as bytes.
fn is_plain(key: &str) -> bool {
    key.bytes().all(|c| c < 0xEE)
}

/// The canonical form of an object, as bytes.
pub fn object_to_vec(map: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::new();
    write_object(&mut out, map.iter());
    out
}

/// Appends a string as RFC 8785 writes it: `"` and `\` escaped, control characters below
/// U+0020 as `\b \t \n \f \r` or `\u00xx` (lowercase hex), everything else as it is. That is
/// exactly serde_json's escaping, so the log's own string writer does it.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    write_str::<Plain>(out, s);
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(u) = n.as_u64() {
        write_u64(out, u);
    } else if let Some(i) = n.as_i64() {
        out.push(b'-');
        write_u64(out, i.unsigned_abs());
    } else if let Some(f) = n.as_f64() {
        write_f64(out, f);
    } else {
        // serde_json without arbitrary_precision holds nothing else; keep its text.
        out.extend_from_slice(n.to_string().as_bytes());
    }
}

/// ECMAScript's `Number.prototype.toString(x)` for a finite double (JSON holds no other).
pub fn write_f64(out: &mut Vec<u8>, x: f64) {
    if x == 0.0 || !x.is_finite() {
        // -0 is "0"; non-finite numbers cannot be in JSON (the logger writes them as strings).
        out.push(b'0');
        return;
    }
    if x < 0.0 {
        out.push(b'-');
    }
    // The shortest digits that round-trip, ties to even as ECMAScript asks: zmij's, the
    // formatter serde_json writes floats with (Rust's own `{:e}` breaks ties the other way).
    // Its text is "123.45", "1e21" or "1.5e-7"; only the digits and the exponent are taken.
    let mut buffer = zmij::Buffer::new();
    let text = buffer.format_finite(x.abs());
    let (mantissa, exp) = text.split_once(['e', 'E']).unwrap_or((text, "0"));
    let exp: i32 = exp.trim_start_matches('+').parse().unwrap_or(0);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut all = [b'0'; 40];
    let count = int.len() + frac.len();
    all[..int.len()].copy_from_slice(int.as_bytes());
    all[int.len()..count].copy_from_slice(frac.as_bytes());
    // value = 0.d1d2…dk × 10^n, before stripping zeros
    let mut n = int.len() as i32 + exp;
    let mut digits = &all[..count.max(1)];
    while digits.len() > 1 && digits[0] == b'0' {
        digits = &digits[1..];
        n -= 1;
    }
    while digits.len() > 1 && digits[digits.len() - 1] == b'0' {
        digits = &digits[..digits.len() - 1];
    }
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if n > 0 { b'+' } else { b'-' });
        write_u64(out, u64::from((n - 1).unsigned_abs()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn num(bits: u64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, f64::from_bits(bits));
        String::from_utf8(out).unwrap()
    }

    /// RFC 8785, appendix B: IEEE 754 values and their canonical text.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        for (bits, text) in [
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ] {
            assert_eq!(num(bits), text, "{bits:#x}");
        }
    }

    /// RFC 8785, section 3.2.3 (sorting) and 3.2.2.2 (strings), the example of 3.2.4.
    #[test]
    fn rfc8785_sorting_and_strings() {
        let v: Value = serde_json::from_str(
            r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
                "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}"#,
        )
        .unwrap();
        assert_eq!(
            canon(&v),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
        let v: Value = serde_json::from_str(
            r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
                "literals": [null, true, false]}"#,
        )
        .unwrap();
        assert_eq!(
            canon(&v),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    /// Byte order stands in for UTF-16 order only when no key has a character from U+E000 up:
    /// mixed objects are sorted by code units throughout.
    #[test]
    fn keys_sort_by_utf16_code_units_whatever_their_mix() {
        let keys = [
            "b",
            "a",
            "\u{e000}",
            "\u{10000}",
            "\u{ffff}",
            "z",
            "\u{7ff}",
            "~",
        ];
        for n in 1..=keys.len() {
            for start in 0..keys.len() {
                let chosen: Vec<&str> = (0..n).map(|i| keys[(start + i) % keys.len()]).collect();
                let map: Map<String, Value> =
                    chosen.iter().map(|k| (k.to_string(), json!(1))).collect();
                let mut expected = map.keys().cloned().collect::<Vec<_>>();
                expected.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
                let text = String::from_utf8(object_to_vec(&map)).unwrap();
                let got: Vec<String> = serde_json::from_str::<Map<String, Value>>(&text)
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect();
                assert_eq!(got, expected, "{chosen:?}");
            }
        }
        // More members than are sorted on the stack.
        let big: Map<String, Value> = (0..40)
            .rev()
            .map(|i| (format!("k{i:02}"), json!(i)))
            .collect();
        let text = String::from_utf8(object_to_vec(&big)).unwrap();
        assert!(text.starts_with(r#"{"k00":0,"k01":1,"#) && text.ends_with(r#""k39":39}"#));
    }

    #[test]
    fn integers_stay_exact() {
        assert_eq!(canon(&json!(9007199254740993u64)), "9007199254740993");
        assert_eq!(canon(&json!(u64::MAX)), "18446744073709551615");
        assert_eq!(canon(&json!(i64::MIN)), "-9223372036854775808");
        // A float that holds an integer is written as one: `1.0` and `1` are the same number.
        assert_eq!(canon(&json!(1.0)), "1");
        assert_eq!(canon(&json!(0.001)), "0.001");
    }

    #[test]
    fn reformatting_does_not_change_the_canonical_form() {
        let a: Value =
            serde_json::from_str(r#"{"b":[1,2.50,"x"],"a":{"z":null,"y":1e2}}"#).unwrap();
        let b: Value = serde_json::from_str(
            "{\n  \"a\": {\"y\": 100.0, \"z\": null},\n  \"b\": [1, 2.5, \"\\u0078\"]\n}",
        )
        .unwrap();
        assert_eq!(canon(&a), canon(&b));
    }
}
