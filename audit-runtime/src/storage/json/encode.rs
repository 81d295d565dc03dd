//! One event as a line of the JSON log: compact JSON, the five fields in the spec's order,
//! byte for byte what `serde_json::to_writer` writes for them (see `storage::encode` for why
//! it is written by hand).

use crate::storage::encode::{Encoded, Plain, Record, write_object, write_str};
use crate::{AuditError, Timestamp};

const TIMESTAMP_KEY: &[u8] = br#"{"timestamp":""#;

/// `prefix` followed by the event as one line of compact JSON, with the five fields in the
/// spec's order. Every control character is escaped, so the line never contains a raw
/// newline.
pub(crate) fn json_line(prefix: &[u8], record: &Record<'_>) -> Result<Encoded, AuditError> {
    // The fixed text is about 100 bytes; details vary, and the reused buffer has usually
    // grown to fit them already.
    let mut enc = Encoded::start(
        prefix.len()
            + 128
            + record.action_type.len()
            + record.status.len()
            + record.error.map_or(0, str::len),
    );
    let out = &mut enc.bytes;
    out.extend_from_slice(prefix);
    out.extend_from_slice(TIMESTAMP_KEY);
    let timestamp_at = out.len();
    out.extend_from_slice(&Timestamp::PLACEHOLDER);
    out.extend_from_slice(br#"","action_type":"#);
    write_str::<Plain>(out, record.action_type);
    out.extend_from_slice(br#","status":"#);
    write_str::<Plain>(out, record.status);
    out.extend_from_slice(br#","details":"#);
    write_object::<Plain>(out, record.details).map_err(|source| AuditError::Serialize {
        what: "the event",
        source,
    })?;
    let details_end = out.len();
    out.extend_from_slice(br#","error":"#);
    match record.error {
        Some(error) => write_str::<Plain>(out, error),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    enc.timestamp_at = timestamp_at;
    enc.details_end = details_end;
    Ok(enc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::encode::tests::{arb_details, arb_text, record};
    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::{Map, Value, json};

    /// The encoding this module replaced: serde_json over the five fields.
    fn with_serde_json(prefix: &[u8], record: &Record<'_>, ts: Timestamp) -> Vec<u8> {
        #[derive(Serialize)]
        struct JsonShape<'a> {
            timestamp: Timestamp,
            action_type: &'a str,
            status: &'a str,
            details: &'a Map<String, Value>,
            error: Option<&'a str>,
        }
        let mut bytes = prefix.to_vec();
        let shape = JsonShape {
            timestamp: ts,
            action_type: record.action_type,
            status: record.status,
            details: record.details,
            error: record.error,
        };
        serde_json::to_writer(&mut bytes, &shape).unwrap();
        bytes
    }

    #[test]
    fn json_line_patches_the_timestamp_in_place() {
        let details = json!({"tag_name": "a\nb"}).as_object().unwrap().clone();
        let mut enc = json_line(b"\n", &record(&details, Some("boom"))).unwrap();
        enc.set_timestamp("2026-05-27T14:30:00.123456Z".parse().unwrap());
        assert_eq!(
            enc.bytes,
            b"\n{\"timestamp\":\"2026-05-27T14:30:00.123456Z\",\"action_type\":\"tag_add\",\"status\":\"failed\",\"details\":{\"tag_name\":\"a\\nb\"},\"error\":\"boom\"}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn lines_are_byte_identical_to_serde_json(
            action in arb_text(),
            status in prop_oneof![Just("success".to_owned()), Just("failed".to_owned()), arb_text()],
            details in arb_details(),
            error in proptest::option::of(arb_text()),
            micros in Timestamp::MIN.as_micros()..=Timestamp::MAX.as_micros(),
            prefix in prop_oneof![Just(&b"\n"[..]), Just(&b""[..])],
        ) {
            let record = Record {
                action_type: &action,
                status: &status,
                details: &details,
                error: error.as_deref(),
            };
            let ts = Timestamp::from_micros(micros);
            let mut enc = json_line(prefix, &record).unwrap();
            // The placeholder is where the writer expects it, before and after patching.
            prop_assert_eq!(enc.timestamp_at, prefix.len() + TIMESTAMP_KEY.len());
            prop_assert_eq!(&enc.bytes, &with_serde_json(prefix, &record, Timestamp::MIN));
            enc.set_timestamp(ts);
            prop_assert_eq!(&enc.bytes, &with_serde_json(prefix, &record, ts));
        }
    }
}
