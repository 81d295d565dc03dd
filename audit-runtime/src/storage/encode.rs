//! Turning one event into the bytes a log file stores, before any lock is taken.
//!
//! The timestamp is decided only under the log's lock (it must be later than the newest event
//! in the file, whoever wrote it), so both encodings put a fixed-width placeholder at a known
//! offset and the writer patches it in place.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::timestamp::TIMESTAMP_LEN;
use crate::{AuditError, Timestamp, csv_safety};

/// An event that has been checked and is ready to be encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// What was done.
    pub action_type: &'a str,
    /// Whether it worked, as written: `success` or `failed` for an event being logged (the
    /// logging API takes a [`crate::Status`]); an event carried over from an existing log
    /// (a salvage rewrite) keeps whatever status it has.
    pub status: &'a str,
    /// The details object.
    pub details: &'a Map<String, Value>,
    /// Why it failed.
    pub error: Option<&'a str>,
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

/// The key inside `details` under which the logger records facts about the event itself
/// (not given by the caller), as an object.
pub const RESERVED_DETAILS_KEY: &str = "_audit";

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

#[derive(Serialize)]
struct JsonShape<'a> {
    timestamp: Timestamp,
    action_type: &'a str,
    status: &'a str,
    details: &'a Map<String, Value>,
    error: Option<&'a str>,
}

/// Encoded bytes plus where the timestamp placeholder sits in them.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub bytes: Vec<u8>,
    pub timestamp_at: usize,
}

impl Encoded {
    pub(crate) fn set_timestamp(&mut self, ts: Timestamp) {
        let at = self.timestamp_at;
        self.bytes[at..at + TIMESTAMP_LEN].copy_from_slice(&ts.to_bytes());
    }
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

/// The event as one CSV record (RFC 4180 quoting by the csv crate, formula cells
/// neutralised), ending with `terminator`.
pub(crate) fn csv_row(record: &Record<'_>, terminator: &[u8]) -> Result<Encoded, AuditError> {
    let details =
        serde_json::to_string(record.details).map_err(|source| AuditError::Serialize {
            what: "details",
            source,
        })?;
    let placeholder = Timestamp::MIN.to_bytes();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv_terminator(terminator))
        .from_writer(Vec::with_capacity(details.len() + 96));
    let action = csv_safety::neutralise(record.action_type);
    // A status carried over from another writer's log may be any text, so it is guarded
    // like the other free-text cells (ours, success and failed, never need it).
    let status = csv_safety::neutralise(record.status);
    let error = csv_safety::neutralise(record.error.unwrap_or(""));
    let fields: [&[u8]; 5] = [
        &placeholder,
        action.as_bytes(),
        status.as_bytes(),
        details.as_bytes(),
        error.as_bytes(),
    ];
    writer
        .write_record(fields)
        .and_then(|()| writer.flush().map_err(csv::Error::from))
        .map_err(|e| AuditError::InvalidEvent(format!("cannot encode as CSV: {e}")))?;
    let bytes = writer
        .into_inner()
        .map_err(|e| AuditError::InvalidEvent(format!("cannot encode as CSV: {e}")))?;
    Ok(Encoded {
        bytes,
        timestamp_at: 0,
    })
}

/// The header row of the spec's CSV file.
pub(crate) fn csv_header(terminator: &[u8]) -> Vec<u8> {
    let mut header = b"timestamp,action_type,status,details,error".to_vec();
    header.extend_from_slice(terminator);
    header
}

fn csv_terminator(terminator: &[u8]) -> csv::Terminator {
    if terminator == b"\r\n" {
        csv::Terminator::CRLF
    } else {
        csv::Terminator::Any(b'\n')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record<'a>(details: &'a Map<String, Value>, error: Option<&'a str>) -> Record<'a> {
        Record {
            action_type: "tag_add",
            status: crate::Status::Failed.as_str(),
            details,
            error,
        }
    }

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

    #[test]
    fn csv_row_quotes_neutralises_and_patches() {
        let details = json!({"note": "x,\"y\"\nz"}).as_object().unwrap().clone();
        let mut enc = csv_row(&record(&details, Some("=cmd|' /C calc'!A0")), b"\r\n").unwrap();
        enc.set_timestamp("2026-05-27T14:30:00.000001Z".parse().unwrap());
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(enc.bytes.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 1, "a newline inside a field forged a row");
        let row = &rows[0];
        assert_eq!(&row[0], "2026-05-27T14:30:00.000001Z");
        assert_eq!(&row[4], "'=cmd|' /C calc'!A0");
        assert_eq!(csv_safety::restore(&row[4]), "=cmd|' /C calc'!A0");
        let back: Value = serde_json::from_str(&row[3]).unwrap();
        assert_eq!(back, json!({"note": "x,\"y\"\nz"}));
        assert!(enc.bytes.ends_with(b"\r\n"));
    }
}
