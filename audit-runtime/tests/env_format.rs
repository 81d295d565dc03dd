//! `AUDIT_LOG_FORMAT` handling, in a test binary of its own because the environment is
//! process-wide. Tests here serialise on a mutex and restore the variable.

use std::sync::Mutex;

use audit_runtime::{AuditError, AuditLogger, Format, Status};

static ENV: Mutex<()> = Mutex::new(());

fn with_env<R>(value: Option<&str>, f: impl FnOnce() -> R) -> R {
    let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: every test in this binary takes ENV before touching the environment, and no
    // other thread reads it meanwhile.
    unsafe {
        match value {
            Some(v) => std::env::set_var("AUDIT_LOG_FORMAT", v),
            None => std::env::remove_var("AUDIT_LOG_FORMAT"),
        }
    }
    let result = f();
    // SAFETY: as above.
    unsafe { std::env::remove_var("AUDIT_LOG_FORMAT") };
    result
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.retain(|n| !n.starts_with('.'));
    names.sort();
    names
}

#[test]
fn default_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let logger = with_env(None, || AuditLogger::new(dir.path(), "exp").unwrap());
    assert_eq!(logger.format(), Format::Json);
    assert_eq!(files_in(dir.path()), ["audit_log.json"]);
}

#[test]
fn environment_chooses_csv_ignoring_case_and_spaces() {
    for value in ["csv", "CSV", "  Csv \n"] {
        let dir = tempfile::tempdir().unwrap();
        let logger = with_env(Some(value), || AuditLogger::new(dir.path(), "exp").unwrap());
        assert_eq!(logger.format(), Format::Csv, "{value:?}");
        logger
            .log_event("pause", Status::Success, None, None)
            .unwrap();
        assert_eq!(files_in(dir.path()), ["audit_log.csv"]);
    }
}

#[test]
fn environment_none_disables_logging_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("exp");
    let logger = with_env(Some("none"), || AuditLogger::new(&target, "exp").unwrap());
    assert_eq!(logger.format(), Format::None);
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    assert!(!target.exists());
}

#[test]
fn explicit_format_beats_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let logger = with_env(Some("none"), || {
        AuditLogger::builder(dir.path())
            .format(Format::Csv)
            .build()
            .unwrap()
    });
    assert_eq!(logger.format(), Format::Csv);
}

#[test]
fn invalid_value_falls_back_to_json_or_fails_when_strict() {
    let dir = tempfile::tempdir().unwrap();
    let logger = with_env(Some("xml"), || AuditLogger::new(dir.path(), "exp").unwrap());
    assert_eq!(logger.format(), Format::Json);
    let err = with_env(Some("xml"), || {
        AuditLogger::builder(dir.path().join("strict"))
            .strict(true)
            .build()
            .unwrap_err()
    });
    assert!(matches!(err, AuditError::InvalidFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("AUDIT_LOG_FORMAT"), "{err}");
    assert!(
        !dir.path().join("strict").exists(),
        "a refused logger created its directory"
    );
}

#[test]
fn format_names_parse_like_the_environment() {
    assert_eq!(" JSON ".parse::<Format>().unwrap(), Format::Json);
    let err = "yaml".parse::<Format>().unwrap_err();
    assert!(err.to_string().contains("\"yaml\""), "{err}");
}
