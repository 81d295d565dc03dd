//! Property: whatever details, action names and error messages are logged, both formats give
//! them back exactly, through our readers and through plain serde_json / csv readers.

use audit_runtime::read::open_events;
use audit_runtime::{AuditEvent, AuditLogger, Format, Status};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn text() -> impl Strategy<Value = String> {
    // Printable text plus every troublemaker: quotes, commas, CR/LF, control characters,
    // formula triggers, a leading quote, non-BMP characters, and the empty string (an empty
    // error must come back as none from both formats).
    prop_oneof![
        "[ -~]{0,12}",
        "[=+@\\-\t\r\n\",;'\\\\\u{0}-\u{1f}é漢🎉\u{2028}a-z]{0,12}",
        Just(String::new()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn details() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((text(), json_value()), 0..6)
        .prop_map(|pairs| pairs.into_iter().collect())
}

fn action() -> impl Strategy<Value = String> {
    text().prop_filter("non-empty", |s| !s.trim().is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn details_round_trip_through_both_formats(
        events in prop::collection::vec((action(), any::<bool>(), details(), prop::option::of(text())), 1..5)
    ) {
        for format in [Format::Json, Format::Csv] {
            let dir = tempfile::tempdir().unwrap();
            let logger = AuditLogger::builder(dir.path()).format(format).build().unwrap();
            for (action, ok, details, error) in &events {
                let status = if *ok { Status::Success } else { Status::Failed };
                logger.log_event(action, status, Value::Object(details.clone()), error.as_deref()).unwrap();
            }
            let path = logger.path().unwrap().to_owned();
            let mut read: Vec<AuditEvent> = open_events(&path).unwrap().collect::<Result<_, _>>().unwrap();
            if format == Format::Json {
                read.reverse();
                // A foreign reader agrees.
                let plain: Vec<AuditEvent> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                prop_assert_eq!(plain.into_iter().rev().collect::<Vec<_>>(), read.clone());
            }
            prop_assert_eq!(read.len(), events.len());
            for (got, (action, ok, details, error)) in read.iter().zip(&events) {
                prop_assert_eq!(&got.action_type, action);
                prop_assert_eq!(got.status == Status::Success, *ok);
                prop_assert_eq!(&got.details, details);
                // An empty error is stored as none in both formats (CSV cannot tell them apart,
                // so neither may JSON, or a round trip between the formats would change it).
                let expected = error.clone().filter(|e| !e.is_empty());
                prop_assert_eq!(&got.error, &expected);
            }
        }
    }
}
