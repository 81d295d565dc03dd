//! What both log formats share when they turn one event into bytes, before any lock is
//! taken: the checked event ([`Record`]), the encoded bytes with their timestamp placeholder
//! ([`Encoded`]), and the real time added to an event whose timestamp was pushed far ahead.
//!
//! The timestamp is decided only under the log's lock (it must be later than the newest event
//! in the file, whoever wrote it), so both encodings put a fixed-width placeholder at a known
//! offset and the writer patches it in place. Each format's own encoding lives with it
//! (`json::encode`, `csv::encode`).

use serde_json::{Map, Value};

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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
