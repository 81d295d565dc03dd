//! Property: whatever damage is done to a JSON log (cut short, bytes overwritten, garbage
//! inserted), opening it never fails or panics, leaves a valid log, keeps the original bytes,
//! and carries over every event whose line the damage did not touch.

use std::fs;

use audit_runtime::{AuditEvent, AuditLogger, Format, Status};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    Overwrite(usize, Vec<u8>),
    Insert(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    let bytes = prop::collection::vec(any::<u8>(), 1..40);
    prop_oneof![
        (0usize..100_000).prop_map(Damage::Truncate),
        (0usize..100_000, bytes.clone()).prop_map(|(at, b)| Damage::Overwrite(at, b)),
        (0usize..100_000, bytes).prop_map(|(at, b)| Damage::Insert(at, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_damage_is_survived(events in 1usize..12, damage in damage(), indent in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit_log.json");
        {
            let logger = AuditLogger::builder(dir.path()).format(Format::Json).build().unwrap();
            for i in 0..events {
                logger.log_event("tag_add", Status::Success, json!({"i": i, "note": "x".repeat(i * 7)}), None).unwrap();
            }
        }
        let mut bytes = fs::read(&path).unwrap();
        if indent {
            // The reference's layout, so both layouts get damaged.
            let all: Vec<serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
            bytes = serde_json::to_vec_pretty(&all).unwrap();
        }
        // Lines of intact events, and the damaged byte range.
        let text = String::from_utf8(bytes.clone()).unwrap();
        let (lo, hi) = match &damage {
            Damage::Truncate(at) => { let at = at % (bytes.len() + 1); bytes.truncate(at); (at, usize::MAX) }
            Damage::Overwrite(at, b) => {
                let at = at % bytes.len();
                let end = (at + b.len()).min(bytes.len());
                bytes[at..end].copy_from_slice(&b[..end - at]);
                (at, end)
            }
            Damage::Insert(at, b) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
                (at, at + 1)
            }
        };
        fs::write(&path, &bytes).unwrap();
        let logger = AuditLogger::builder(dir.path()).format(Format::Json).build().unwrap();
        logger.log_event("pause", Status::Success, None, None).unwrap();
        // Valid JSON; damage inside an event that left it valid JSON (a changed digit, a
        // renamed key) is kept as it is, not dropped: `auditlog verify` reports such events.
        let after: Vec<serde_json::Value> = serde_json::from_slice(&fs::read(&path).unwrap())
            .expect("the continued log is valid JSON");
        let newest: AuditEvent = serde_json::from_value(after[0].clone()).unwrap();
        prop_assert_eq!(&newest.action_type, "pause");
        // Every event whose whole text lies clear of the damage is still there.
        let seen: Vec<i64> = after[1..].iter().filter_map(|e| e["details"]["i"].as_i64()).collect();
        let mut search = 0;
        for i in (0..events).rev() {
            let needle = format!("\"i\": {i}");
            let compact = format!("\"i\":{i}");
            let Some(pos) = text[search..].find(&needle).or_else(|| text[search..].find(&compact)) else { continue };
            let pos = search + pos;
            let start = text[..pos].rfind("\"timestamp\"").unwrap();
            let end = pos + text[pos..].find("\"error\"").unwrap() + 12;
            search = end;
            // Margins for the braces and separators around the event.
            if end + 4 < lo || start > hi.saturating_add(8) {
                prop_assert!(seen.contains(&(i as i64)), "event {} lost (damage {:?} at {}..{})", i, damage, lo, hi);
            }
        }
        if let Some(recovery) = logger.recovery()
            && let Some(kept) = &recovery.original_kept_at
        {
            prop_assert_eq!(fs::read(kept).unwrap(), bytes, "original bytes kept exactly");
        }
    }
}
