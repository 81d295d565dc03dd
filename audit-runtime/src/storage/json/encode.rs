//! One event as a line of the JSON log: compact JSON, the five fields in the spec's order.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::storage::encode::{Encoded, Record};
use crate::{AuditError, Timestamp};

#[derive(Serialize)]
struct JsonShape<'a> {
    timestamp: Timestamp,
    action_type: &'a str,
    status: &'a str,
    details: &'a Map<String, Value>,
    error: Option<&'a str>,
}

/// `prefix` followed by the event as one line of compact JSON, with the five fields in the
/// spec's order. serde_json escapes every control character, so the line never contains a
/// raw newline.
pub(crate) fn json_line(prefix: &[u8], record: &Record<'_>) -> Result<Encoded, AuditError> {
    let mut bytes = Vec::with_capacity(prefix.len() + 160);
    bytes.extend_from_slice(prefix);
    let shape = JsonShape {
        timestamp: Timestamp::MIN,
        action_type: record.action_type,
        status: record.status,
        details: record.details,
        error: record.error,
    };
    serde_json::to_writer(&mut bytes, &shape).map_err(|source| AuditError::Serialize {
        what: "the event",
        source,
    })?;
    Ok(Encoded {
        bytes,
        timestamp_at: prefix.len() + br#"{"timestamp":""#.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::encode::tests::record;
    use serde_json::json;

    #[test]
    fn json_line_patches_the_timestamp_in_place() {
        let details = json!({"tag_name": "a\nb"}).as_object().unwrap().clone();
        let mut enc = json_line(b"\n", &record(&details, Some("boom"))).unwrap();
        enc.set_timestamp("2026-05-27T14:30:00.123456Z".parse().unwrap());
        let text = String::from_utf8(enc.bytes).unwrap();
        assert_eq!(
            text,
            "\n{\"timestamp\":\"2026-05-27T14:30:00.123456Z\",\"action_type\":\"tag_add\",\"status\":\"failed\",\"details\":{\"tag_name\":\"a\\nb\"},\"error\":\"boom\"}"
        );
    }
}
