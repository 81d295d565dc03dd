//! The one event every contender writes, and its bytes in each format, so that the floors
//! write exactly as many bytes per event as the logger does.

use audited::read::CsvWriter;
use audited::{AuditEvent, Status, Timestamp};
use serde_json::{Map, Value};

pub const ACTION: &str = "hp_change";
pub const ACTOR: &str = "alice";
pub const RUN_ID: &str = "run-2026-05-27-lr-sweep";
pub const STEP: u64 = 12_000;
pub const LEARNING_RATE: f64 = 0.001;
pub const BATCH_SIZE: u32 = 64;

/// What an `hp_change` handler logs: five keys, one nested, about 250 bytes as a line.
pub fn details() -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("actor".into(), ACTOR.into());
    details.insert("run_id".into(), RUN_ID.into());
    details.insert("step".into(), STEP.into());
    details.insert("learning_rate".into(), LEARNING_RATE.into());
    details.insert("batch_size".into(), BATCH_SIZE.into());
    details
}

fn event() -> AuditEvent {
    AuditEvent {
        // Any timestamp has the same length: the logger writes a fixed-width one.
        timestamp: Timestamp::now(),
        action_type: ACTION.to_owned(),
        status: Status::Success.into(),
        details: details(),
        error: None,
    }
}

/// What the logger writes into the JSON log's gap for this event: `\n{event},\n`, whose
/// last newline overwrites the one that ends the gap (so `len - 1` bytes are new).
pub fn json_chunk() -> Vec<u8> {
    let mut chunk = b"\n".to_vec();
    serde_json::to_writer(&mut chunk, &event()).expect("an event serialises");
    chunk.extend_from_slice(b",\n");
    chunk
}

/// The event as a row of the CSV log, in the logger's own encoding.
pub fn csv_row() -> Vec<u8> {
    let with_header = |events: &[AuditEvent]| {
        let mut writer = CsvWriter::new(Vec::new());
        for e in events {
            writer.write_event(e).expect("the event encodes as CSV");
        }
        writer.finish().expect("writing to a Vec")
    };
    let one = with_header(&[event()]);
    let two = with_header(&[event(), event()]);
    // The second row alone: what the logger appends for each event after the header.
    two[one.len()..].to_vec()
}

/// The CSV log's header line, as the floors' file starts.
pub fn csv_header() -> Vec<u8> {
    let one = {
        let mut writer = CsvWriter::new(Vec::new());
        writer
            .write_event(&event())
            .expect("the event encodes as CSV");
        writer.finish().expect("writing to a Vec")
    };
    let row = csv_row();
    one[..one.len() - row.len()].to_vec()
}
