//! The readers through the public API only, on the reference implementation's files.

use std::path::PathBuf;

use audit_runtime::read::{
    Snapshot, detect, open_events, salvage_csv, salvage_json, summarize_file,
};
use audit_runtime::{AuditError, Format, LogSummary};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(name)
}

#[test]
fn every_reference_file_reads_and_summarises_the_same_both_ways() {
    for (name, format, count) in [
        ("audit_log.indent2.json", Format::Json, 5),
        ("audit_log.nan-tokens.json", Format::Json, 2),
        ("audit_log.reference.csv", Format::Csv, 4),
    ] {
        let path = fixture(name);
        assert_eq!(detect(&path).unwrap(), format, "{name}");
        let mut by_event = LogSummary::default();
        for event in open_events(&path).unwrap() {
            by_event.add(&event.unwrap());
        }
        assert_eq!(by_event.total_events, count, "{name}");
        assert_eq!(summarize_file(&path, format).unwrap(), by_event, "{name}");
    }
}

#[test]
fn salvage_of_a_clean_reference_file_reports_nothing() {
    let file = std::fs::File::open(fixture("audit_log.indent2.json")).unwrap();
    let report = salvage_json(file, |_| Ok::<(), ()>(())).unwrap();
    assert_eq!(report.recovered, 5);
    assert!(report.is_clean());
    let file = std::fs::File::open(fixture("audit_log.reference.csv")).unwrap();
    let report = salvage_csv(file, |_, _| Ok::<(), ()>(())).unwrap();
    assert_eq!(report.recovered, 4);
    assert!(report.problems.is_empty());
}

/// A log without the writers' lock file (the reference's): a snapshot reads it from its
/// start, without a locked length, and gives every event with its place.
#[test]
fn a_snapshot_of_a_reference_file_reads_every_event() {
    for (name, format) in [
        ("audit_log.indent2.json", Format::Json),
        ("audit_log.reference.csv", Format::Csv),
    ] {
        let path = fixture(name);
        let snapshot = Snapshot::take(&path, format).unwrap();
        assert_eq!(snapshot.locked_len(), None, "{name}");
        assert_eq!(snapshot.torn_event(), None, "{name}");
        let mut events = snapshot.events();
        let mut by_event = LogSummary::default();
        let mut lines = Vec::new();
        while let Some(located) = events.next_located() {
            let located = located.unwrap();
            assert_eq!(snapshot.read_event(located.span()).unwrap(), located.event);
            lines.push(located.line);
            by_event.add(&located.event);
        }
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "{name}: {lines:?}");
        assert_eq!(summarize_file(&path, format).unwrap(), by_event, "{name}");
    }
}

#[test]
fn a_truncated_reference_file_is_malformed_with_a_place() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("audit_log.indent2.json")).unwrap();
    let path = dir.path().join("audit_log.json");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = summarize_file(&path, Format::Json).unwrap_err();
    match &err {
        AuditError::Malformed { reason, .. } => {
            assert!(reason.starts_with("byte "), "{reason}");
            assert!(reason.contains("truncated"), "{reason}");
        }
        other => panic!("{other}"),
    }
}
