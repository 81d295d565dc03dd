//! One event as a record of the CSV log (RFC 4180 quoting, byte for byte what the csv crate
//! writes with its defaults; free-text cells neutralised against spreadsheet formulas, see
//! [`super::formula`]), and the header.
//!
//! Written by hand rather than through a `csv::Writer`: a writer per event allocated and
//! zeroed an 8 KiB buffer, a third of the event's cost, and the details cell was encoded to
//! JSON first and then copied again to double its quotes; here it is written once, quotes
//! doubled on the way (`InCsvCell`). The tests compare the rows with the csv crate's.

use crate::storage::encode::{Encoded, InCsvCell, Record, write_object};
use crate::{AuditError, Timestamp};

use super::formula;

/// The event as one CSV record (RFC 4180 quoting, formula cells neutralised), ending with
/// `terminator` (none: the caller adds the file's line ending later).
pub(crate) fn csv_row(record: &Record<'_>, terminator: &[u8]) -> Result<Encoded, AuditError> {
    let error = record.error.unwrap_or("");
    // The fixed part is the timestamp, four commas, the formula marks and the quotes of the
    // free-text cells, and the line ending; details vary, and the reused buffer has usually
    // grown to fit them already.
    let mut enc = Encoded::start(64 + record.action_type.len() + record.status.len() + error.len());
    let out = &mut enc.bytes;
    let mut details_end = 0;
    out.extend_from_slice(&Timestamp::PLACEHOLDER);
    out.push(b',');
    text_cell(out, record.action_type);
    out.push(b',');
    // A status carried over from another writer's log may be any text, so it is guarded
    // like the other free-text cells (ours, success and failed, never need it).
    text_cell(out, record.status);
    out.push(b',');
    // The JSON of a non-empty object always holds a `"` (its keys), so the cell is quoted;
    // it never holds a raw line break (JSON escapes them). `{}` needs no quotes.
    if record.details.is_empty() {
        out.extend_from_slice(b"{}");
    } else {
        out.push(b'"');
        write_object::<InCsvCell>(out, record.details).map_err(|source| AuditError::Serialize {
            what: "details",
            source,
        })?;
        details_end = out.len();
        out.push(b'"');
    }
    out.push(b',');
    text_cell(out, error);
    out.extend_from_slice(terminator);
    enc.timestamp_at = 0;
    enc.details_end = details_end;
    Ok(enc)
}

/// Appends a free-text cell: neutralised (see [`formula`]), then quoted if it holds a comma,
/// a quote or a line break, with its quotes doubled (the csv crate's `QuoteStyle::Necessary`
/// for either of our line endings, which both make `\r` and `\n` special).
fn text_cell(out: &mut Vec<u8>, cell: &str) {
    let mark: &[u8] = if formula::needs_quote_prefix(cell) {
        b"'"
    } else {
        b""
    };
    let bytes = cell.as_bytes();
    if !bytes
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        out.extend_from_slice(mark);
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(bytes.len() + mark.len() + 4);
    out.push(b'"');
    out.extend_from_slice(mark);
    let mut run = 0;
    for at in memchr::memchr_iter(b'"', bytes) {
        out.extend_from_slice(&bytes[run..=at]);
        out.push(b'"');
        run = at + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::encode::tests::{arb_details, arb_text, record};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// The encoding this module replaced: a `csv::Writer` over the five cells.
    fn with_csv_crate(record: &Record<'_>, terminator: &[u8], ts: Timestamp) -> Vec<u8> {
        let details = serde_json::to_string(record.details).unwrap();
        let mut writer = csv::WriterBuilder::new()
            .terminator(if terminator == b"\r\n" {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            })
            .from_writer(Vec::new());
        let action = formula::neutralise(record.action_type);
        let status = formula::neutralise(record.status);
        let error = formula::neutralise(record.error.unwrap_or(""));
        writer
            .write_record([
                ts.to_string().as_bytes(),
                action.as_bytes(),
                status.as_bytes(),
                details.as_bytes(),
                error.as_bytes(),
            ])
            .unwrap();
        writer.into_inner().unwrap()
    }

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

    #[test]
    fn cells_that_need_care_are_written_as_the_csv_crate_writes_them() {
        let details = json!({"a": "b"}).as_object().unwrap().clone();
        let empty = serde_json::Map::new();
        for text in [
            "",
            "plain",
            "a,b",
            "say \"hi\"",
            "\"",
            "\"\"",
            "line\nbreak",
            "cr\r",
            "=1+1",
            "'=x",
            "''+x",
            "-1",
            "@x",
            "\tx",
            "\rx",
            "\r\n",
            ",",
            "'",
            "é😀",
            " =x",
        ] {
            for details in [&details, &empty] {
                for terminator in [&b"\r\n"[..], b"\n"] {
                    let record = Record {
                        action_type: text,
                        status: text,
                        details,
                        error: Some(text),
                    };
                    let ts = Timestamp::from_micros(1_779_892_200_123_456);
                    let mut enc = csv_row(&record, terminator).unwrap();
                    enc.set_timestamp(ts);
                    assert_eq!(
                        enc.bytes,
                        with_csv_crate(&record, terminator, ts),
                        "{text:?}"
                    );
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn rows_are_byte_identical_to_the_csv_crate(
            action in arb_text(),
            status in prop_oneof![Just("success".to_owned()), Just("failed".to_owned()), arb_text()],
            details in arb_details(),
            error in proptest::option::of(arb_text()),
            micros in Timestamp::MIN.as_micros()..=Timestamp::MAX.as_micros(),
            crlf in any::<bool>(),
        ) {
            let record = Record {
                action_type: &action,
                status: &status,
                details: &details,
                error: error.as_deref(),
            };
            let terminator: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let ts = Timestamp::from_micros(micros);
            let mut enc = csv_row(&record, terminator).unwrap();
            prop_assert_eq!(enc.timestamp_at, 0);
            prop_assert_eq!(&enc.bytes, &with_csv_crate(&record, terminator, Timestamp::MIN));
            enc.set_timestamp(ts);
            prop_assert_eq!(&enc.bytes, &with_csv_crate(&record, terminator, ts));
            // Without a line ending it is the same row, to be ended later.
            let mut bare = csv_row(&record, b"").unwrap();
            bare.set_timestamp(ts);
            prop_assert_eq!(&bare.bytes[..], &enc.bytes[..enc.bytes.len() - terminator.len()]);
        }
    }
}
