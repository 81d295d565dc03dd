//! The readers through the public API only, on the reference implementation's files.

use std::path::PathBuf;

use audit_runtime::read::{JsonScanner, detect, open_events, salvage_csv, salvage_json};
use audit_runtime::summary::{summarize_file, summarize_json_snapshot};
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

#[test]
fn a_snapshot_summary_starts_at_the_first_element() {
    let path = fixture("audit_log.indent2.json");
    let len = std::fs::metadata(&path).unwrap().len();
    let mut scanner = JsonScanner::new(std::fs::File::open(&path).unwrap());
    let first = scanner.next_element().unwrap().unwrap().start;
    let file = std::fs::File::open(&path).unwrap();
    let snapshot = summarize_json_snapshot(&file, first, len).unwrap();
    assert_eq!(snapshot, summarize_file(&path, Format::Json).unwrap());
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
