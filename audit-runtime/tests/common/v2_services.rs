//! A generated log of the kind WeightsLab v2.0's services write with the reference's Python
//! logger: its 20 action names and three statuses (`success`, `failed`, and `error` for a
//! notebook cell that raised), in the reference's layouts (JSON `indent=2`, newest first;
//! CSV with CRLF line ends, `json.dumps` details, an empty cell for empty details).
//!
//! Shared by the runtime's and the CLI's tests (the CLI includes this file by path), so
//! both check the same log.
#![allow(dead_code)]

use serde_json::{Map, Value, json};

/// The 20 action names of WeightsLab v2.0's services.
pub const ACTIONS: [&str; 20] = [
    "hp_change",
    "pause",
    "resume",
    "mode_switch",
    "tag_add",
    "tag_remove",
    "tag_register",
    "sample_discard",
    "sample_restore",
    "query_execute",
    "checkpoint_restore",
    "checkpoint_save",
    "evaluation_start",
    "note_write",
    "restart_instance",
    "experiment_rename",
    "notebook_run",
    "notebook_interrupt",
    "notebook_save",
    "notebook_generate_code",
];

/// `n` events, oldest first, as JSON values with the five fields in the spec's order. Every
/// 7th is an `error`, every 5th other one `failed`; `restart_instance` has empty details,
/// `tag_register` a tag name that a spreadsheet would run as a formula.
pub fn events(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let action = ACTIONS[i % ACTIONS.len()];
            let status = if i % 7 == 3 {
                "error"
            } else if i % 5 == 4 {
                "failed"
            } else {
                "success"
            };
            let details = match action {
                "restart_instance" => json!({}),
                "tag_register" => json!({"tag_name": "=cmd|' /C calc'!A0"}),
                "notebook_run" => json!({"cell_id": format!("c{i}"), "code": "print(x)"}),
                _ => json!({"step": i, "note": format!("event {i}, \"quoted\"")}),
            };
            let error = match status {
                "error" => json!(format!("NameError: name 'x{i}' is not defined")),
                "failed" => json!(format!("step {i} failed")),
                _ => Value::Null,
            };
            // 2026-12-01T20:11:34Z plus i milliseconds and a few microseconds.
            let micros = 1_796_155_894_000_000_i64 + i as i64 * 1_000 + (i as i64 % 997);
            json!({
                "timestamp": timestamp(micros),
                "action_type": action,
                "status": status,
                "details": details,
                "error": error,
            })
        })
        .collect()
}

fn timestamp(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let sub = micros.rem_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{sub:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The events as the reference's `json.dump(events, f, indent=2)` lays them out, newest
/// first. (serde_json's pretty printer writes what Python's does for these ASCII values.)
pub fn json_log(events: &[Value]) -> String {
    let newest_first: Vec<&Value> = events.iter().rev().collect();
    serde_json::to_string_pretty(&newest_first).unwrap()
}

/// The events as the reference's `csv.DictWriter` writes them, oldest first: CRLF, minimal
/// quoting, `details` as `json.dumps` (`", "` and `": "` separators) or an empty cell when
/// empty, `error` empty when null.
pub fn csv_log(events: &[Value]) -> String {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    out.write_record(["timestamp", "action_type", "status", "details", "error"])
        .unwrap();
    for event in events {
        let details = event["details"].as_object().unwrap();
        let details = if details.is_empty() {
            String::new()
        } else {
            python_dumps(details)
        };
        out.write_record([
            event["timestamp"].as_str().unwrap(),
            event["action_type"].as_str().unwrap(),
            event["status"].as_str().unwrap(),
            &details,
            event["error"].as_str().unwrap_or(""),
        ])
        .unwrap();
    }
    String::from_utf8(out.into_inner().unwrap()).unwrap()
}

/// `json.dumps` of a flat object of strings and numbers.
fn python_dumps(map: &Map<String, Value>) -> String {
    let fields: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), v))
        .collect();
    format!("{{{}}}", fields.join(", "))
}
