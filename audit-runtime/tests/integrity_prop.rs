//! Property: any edit of a chained, signed log (a changed value in any field, a deleted,
//! duplicated or moved event, the newest events cut off) is detected, and reformatting it
//! (the reference's `indent=2` JSON, CSV with every cell quoted) never is.

#[path = "common/integrity.rs"]
mod helpers;
use helpers::*;

use audit_runtime::integrity::verify_file;
use audit_runtime::{AuditEvent, AuditLogger, Format, Status};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Edit {
    Detail(Index, i64),
    Action(Index),
    Status(Index),
    Error(Index),
    Timestamp(Index),
    Delete(Index),
    Duplicate(Index, Index),
    Swap(Index, Index),
    CutNewest(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1i64..1000).prop_map(|(i, d)| Edit::Detail(i, d)),
        any::<Index>().prop_map(Edit::Action),
        any::<Index>().prop_map(Edit::Status),
        any::<Index>().prop_map(Edit::Error),
        any::<Index>().prop_map(Edit::Timestamp),
        any::<Index>().prop_map(Edit::Delete),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Duplicate(a, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        any::<Index>().prop_map(Edit::CutNewest),
    ]
}

fn detail_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(|f| json!(f)),
        "[ -~\\n\"\\\\é😀]{0,12}".prop_map(Value::from),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
    ]
}

/// Applies the edit; `false` when it changes nothing (e.g. a swap of an event with itself).
fn apply(events: &mut Vec<AuditEvent>, edit: &Edit) -> bool {
    let n = events.len();
    match edit {
        Edit::Detail(i, d) => {
            let e = &mut events[i.index(n)];
            let old = e.details["n"].as_i64().unwrap();
            e.details["n"] = json!(old + d);
        }
        Edit::Action(i) => events[i.index(n)].action_type.push('x'),
        Edit::Status(i) => {
            let e = &mut events[i.index(n)];
            e.status = if e.status.as_str() == "success" {
                Status::Failed.into()
            } else {
                Status::Success.into()
            };
        }
        Edit::Error(i) => {
            let e = &mut events[i.index(n)];
            e.error = match &e.error {
                Some(_) => None,
                None => Some("added".to_owned()),
            };
        }
        Edit::Timestamp(i) => {
            let e = &mut events[i.index(n)];
            e.timestamp = audit_runtime::Timestamp::from_micros(e.timestamp.as_micros() - 1);
        }
        Edit::Delete(i) => {
            events.remove(i.index(n));
        }
        Edit::Duplicate(i, at) => {
            let copy = events[i.index(n)].clone();
            events.insert(at.index(n + 1), copy);
        }
        Edit::Swap(a, b) => {
            let (a, b) = (a.index(n), b.index(n));
            if a == b {
                return false;
            }
            events.swap(a, b);
        }
        Edit::CutNewest(k) => {
            let k = k.index(n) + 1;
            events.truncate(n - k);
        }
    }
    true
}

fn log(
    dir: &std::path::Path,
    format: Format,
    values: &[Value],
    key: &std::path::Path,
) -> std::path::PathBuf {
    let logger = AuditLogger::builder(dir)
        .format(format)
        .signing_key(key)
        .digest_every(1, std::time::Duration::from_secs(3600))
        .build()
        .unwrap();
    for (i, v) in values.iter().enumerate() {
        let error = (i % 3 == 2).then_some("boom");
        let status = if error.is_some() {
            Status::Failed
        } else {
            Status::Success
        };
        logger
            .log_event("hp_change", status, json!({"n": i, "v": v}), error)
            .unwrap();
    }
    logger.path().unwrap().to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn every_edit_is_detected_and_reformatting_never(
        values in proptest::collection::vec(detail_value(), 2..8),
        edit in edit(),
        csv in any::<bool>(),
    ) {
        let format = if csv { Format::Csv } else { Format::Json };
        let dir = tempfile::tempdir().unwrap();
        let keys = keys(dir.path());
        let path = log(dir.path(), format, &values, &keys.private);
        let mut events = events_oldest_first(&path);
        // Reformatted only: still intact.
        rewrite(&path, format, &events);
        let verdict = verify_file(&path, Some(&keys.key)).unwrap();
        prop_assert!(verdict.is_ok(), "reformatting was called tampering: {:?}", verdict);
        if apply(&mut events, &edit) {
            rewrite(&path, format, &events);
            let verdict = verify_file(&path, Some(&keys.key)).unwrap();
            prop_assert!(verdict.is_err(), "{:?} went unnoticed", edit);
        }
    }
}
