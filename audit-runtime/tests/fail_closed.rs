//! Fail-closed auditing on real files: a call is refused before its body runs while the log
//! cannot take events (directory removed, replaced by a file, log replaced by a directory),
//! the refusal is counted, a call whose body ran but whose event could not be written returns
//! an error, logging resumes by itself when the fault clears, and the first event after it
//! says how many events were refused or lost. Fail-open stays the default.

use std::cell::Cell;
use std::path::Path;

use audit_runtime::{
    AuditError, AuditEvent, AuditLogger, AuditUnavailable, Format, MemorySink, Status, audited,
    read,
};

#[derive(Debug)]
enum StepError {
    Audit(AuditUnavailable),
}

impl From<AuditUnavailable> for StepError {
    fn from(e: AuditUnavailable) -> Self {
        StepError::Audit(e)
    }
}

#[audited(action = "pause", logger = logger)]
fn pause(logger: &AuditLogger, ran: &Cell<u32>) -> Result<(), StepError> {
    ran.set(ran.get() + 1);
    Ok(())
}

/// A body that removes the log's directory while it runs: it ran, its event cannot be
/// written.
#[audited(action = "resume", logger = logger)]
fn resume_and_remove(logger: &AuditLogger, dir: &Path) -> Result<u8, StepError> {
    std::fs::remove_dir_all(dir).expect("remove the log directory");
    Ok(7)
}

/// Cannot carry the refusal: fail-closed does not stop it (`fail_closed` on the attribute
/// would make this a compile error).
#[audited(action = "checkpoint_save", logger = logger)]
fn save_returning_nothing(logger: &AuditLogger, ran: &Cell<u32>) {
    ran.set(ran.get() + 1);
}

/// Refused whenever the log cannot take events, even on a fail-open logger.
#[audited(action = "checkpoint_restore", logger = logger, fail_closed)]
fn restore(logger: &AuditLogger, ran: &Cell<u32>) -> Result<(), AuditError> {
    ran.set(ran.get() + 1);
    Ok(())
}

fn logger(dir: &Path, format: Format, fail_closed: bool) -> AuditLogger {
    AuditLogger::builder(dir)
        .format(format)
        .fail_closed(fail_closed)
        .build()
        .expect("open the log")
}

fn events(logger: &AuditLogger) -> Vec<AuditEvent> {
    let mut events: Vec<AuditEvent> = read::open_events(logger.path().unwrap())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    events.sort_by_key(|e| e.timestamp);
    events
}

fn refused(result: Result<(), StepError>) -> AuditUnavailable {
    match result {
        Err(StepError::Audit(e)) => e,
        Ok(()) => panic!("the call was not refused"),
    }
}

#[test]
fn a_removed_directory_refuses_calls_until_it_is_back_and_the_next_event_counts_them() {
    for format in [Format::Json, Format::Csv] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run");
        let log = logger(&dir, format, true);
        let ran = Cell::new(0);
        pause(&log, &ran).unwrap();
        assert_eq!(ran.get(), 1);

        std::fs::remove_dir_all(&dir).unwrap();
        for _ in 0..3 {
            let e = refused(pause(&log, &ran));
            assert!(!e.ran());
            assert!(e.reason().contains("is missing"), "{format}: {e}");
        }
        assert_eq!(ran.get(), 1, "{format}: no body ran unrecorded");
        assert!(
            !dir.exists(),
            "{format}: the removed directory is not made again"
        );
        assert_eq!(log.stats().events_refused, 3);
        assert!(
            log.stats()
                .last_error
                .unwrap()
                .message
                .contains("refused a pause call")
        );

        // The directory is back: logging resumes, and the first event says what was missed.
        std::fs::create_dir(&dir).unwrap();
        pause(&log, &ran).unwrap();
        pause(&log, &ran).unwrap();
        assert_eq!(ran.get(), 3);
        let events = events(&log);
        assert_eq!(events.len(), 2, "{format}: {events:#?}");
        let outage = &events[0].details["_audit"]["outage"];
        assert_eq!(outage["refused"], 3, "{format}: {events:#?}");
        assert!(outage["since"].is_string());
        assert!(!events[1].details.contains_key("_audit"), "reported once");
    }
}

#[test]
fn a_directory_replaced_by_a_file_or_a_log_replaced_by_a_directory_refuses() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let log = logger(&dir, Format::Json, true);
    let ran = Cell::new(0);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "not a directory").unwrap();
    assert!(
        refused(pause(&log, &ran))
            .reason()
            .contains("not a directory")
    );
    std::fs::remove_file(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::create_dir(dir.join("audit_log.json")).unwrap();
    assert!(refused(pause(&log, &ran)).reason().contains("a directory"));
    assert_eq!(ran.get(), 0);
    std::fs::remove_dir(dir.join("audit_log.json")).unwrap();
    pause(&log, &ran).unwrap();
    assert_eq!(events(&log)[0].details["_audit"]["outage"]["refused"], 2);
}

#[test]
fn a_call_whose_event_cannot_be_written_returns_an_error_not_its_success() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let log = logger(&dir, Format::Json, true);
    match resume_and_remove(&log, &dir) {
        Err(StepError::Audit(e)) => {
            assert!(e.ran(), "the body ran: {e}");
            assert!(e.to_string().starts_with("the call ran, but"), "{e}");
        }
        Ok(v) => panic!("a success ({v}) that is not in the log"),
    }
    assert_eq!(log.stats().events_failed, 1);
    // The outage is reported by the first event written once the directory is back.
    std::fs::create_dir(&dir).unwrap();
    pause(&log, &Cell::new(0)).unwrap();
    assert_eq!(events(&log)[0].details["_audit"]["outage"]["failed"], 1);
}

#[test]
fn fail_open_is_the_default_and_loses_nothing_it_can_write() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let log = logger(&dir, Format::Json, false);
    let ran = Cell::new(0);
    std::fs::remove_dir_all(&dir).unwrap();
    // Fail-open: the directory is made again and the call goes ahead, recorded.
    pause(&log, &ran).unwrap();
    assert_eq!(ran.get(), 1);
    assert_eq!(events(&log).len(), 1);
    // A body that removes the directory: fail-open returns its result; the loss is counted.
    assert_eq!(resume_and_remove(&log, &dir).unwrap(), 7);
    assert_eq!(log.stats().events_refused, 0);
}

#[test]
fn the_fail_closed_attribute_refuses_on_a_fail_open_logger() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let log = logger(&dir, Format::Csv, false);
    let ran = Cell::new(0);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "").unwrap();
    match restore(&log, &ran) {
        Err(AuditError::Unavailable(e)) => assert!(!e.ran()),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(ran.get(), 0);
    assert_eq!(log.stats().events_refused, 1);
}

#[test]
fn a_function_that_cannot_carry_the_refusal_still_runs() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let log = logger(&dir, Format::Json, true);
    let ran = Cell::new(0);
    std::fs::remove_dir_all(&dir).unwrap();
    save_returning_nothing(&log, &ran);
    assert_eq!(ran.get(), 1);
    assert_eq!(log.stats().events_failed, 1, "its lost event is counted");
}

#[test]
fn a_refusal_reaches_the_extra_sinks_when_the_log_cannot_take_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let copy = MemorySink::new();
    let log = AuditLogger::builder(&dir)
        .format(Format::Json)
        .fail_closed(true)
        .sink(copy.clone())
        .build()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    refused(pause(&log, &Cell::new(0)));
    let seen = copy.events();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].action_type, "pause");
    assert_eq!(seen[0].status, Status::Failed);
    assert_eq!(seen[0].details["refused"], true);
    assert!(seen[0].error.as_deref().unwrap().starts_with("refused: "));
    assert!(seen[0].details["request_id"].is_string());
}
