//! One event as a record of the CSV log (RFC 4180 quoting by the csv crate, free-text cells
//! neutralised against spreadsheet formulas, see [`super::formula`]), and the header.

use crate::storage::encode::{Encoded, Record};
use crate::{AuditError, InvalidEventKind, Timestamp};

use super::formula;

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
    let action = formula::neutralise(record.action_type);
    // A status carried over from another writer's log may be any text, so it is guarded
    // like the other free-text cells (ours, success and failed, never need it).
    let status = formula::neutralise(record.status);
    let error = formula::neutralise(record.error.unwrap_or(""));
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
        .map_err(|e| {
            AuditError::invalid_event(
                InvalidEventKind::NotCsvEncodable,
                format!("cannot encode as CSV: {e}"),
            )
        })?;
    let bytes = writer.into_inner().map_err(|e| {
        AuditError::invalid_event(
            InvalidEventKind::NotCsvEncodable,
            format!("cannot encode as CSV: {e}"),
        )
    })?;
    Ok(Encoded {
        bytes,
        timestamp_at: 0,
    })
}

/// The spec's five columns, in the order of its CSV file (the readers match a header
/// against these).
pub(crate) const COLUMNS: [&str; 5] = ["timestamp", "action_type", "status", "details", "error"];

/// The header of the spec's CSV file, without its line ending: [`COLUMNS`] joined by commas
/// (checked by a test; a `const` cannot join).
pub(super) const HEADER: &[u8] = b"timestamp,action_type,status,details,error";

/// The header row of the spec's CSV file, ending with `terminator`.
pub(crate) fn csv_header(terminator: &[u8]) -> Vec<u8> {
    let mut header = HEADER.to_vec();
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
    use crate::storage::encode::tests::record;
    use serde_json::{Value, json};

    #[test]
    fn the_header_is_the_columns_joined() {
        assert_eq!(HEADER, COLUMNS.join(",").as_bytes());
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
        assert_eq!(formula::restore(&row[4]), "=cmd|' /C calc'!A0");
        let back: Value = serde_json::from_str(&row[3]).unwrap();
        assert_eq!(back, json!({"note": "x,\"y\"\nz"}));
        assert!(enc.bytes.ends_with(b"\r\n"));
    }
}
