//! `auditlog hash`: prints exactly what a logger that hashes wrote for a value, so that a
//! search with it finds every event about that value.

use assert_cmd::Command;
use audit_runtime::{AuditLogger, Format, Redaction, Status};
use serde_json::json;

fn auditlog() -> Command {
    let mut cmd = Command::cargo_bin("auditlog").unwrap();
    cmd.env_remove("COLUMNS").env("NO_COLOR", "1");
    cmd
}

#[test]
fn hash_prints_what_the_log_holds_for_a_value_and_query_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .redaction(Redaction::default().hashed(true))
        .build()
        .unwrap();
    logger
        .log_event(
            "hp_change",
            Status::Success,
            json!({"token": "tok-alice", "lr": 0.1}),
            None,
        )
        .unwrap();
    logger
        .log_event(
            "pause",
            Status::Success,
            json!({"req": {"api_key": 1234}}),
            None,
        )
        .unwrap();
    logger
        .log_event("resume", Status::Success, json!({"token": "tok-bob"}), None)
        .unwrap();
    let key = dir.path().join(audit_runtime::HMAC_KEY_FILE_NAME);
    let out = auditlog()
        .args(["hash", "tok-alice", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let hashed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        hashed.starts_with("hmac-sha256:") && hashed.len() == 12 + 64,
        "{hashed}"
    );
    let text = std::fs::read_to_string(logger.path().unwrap()).unwrap();
    assert_eq!(text.matches(&hashed).count(), 1);
    assert!(!text.contains("tok-alice"));

    // `--json` hashes a value that is not a string the way the logger does.
    let out = auditlog()
        .args(["hash", "1234", "--json", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    let number = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(text.contains(&number));
    assert_ne!(number, hashed);

    let found = auditlog()
        .arg("query")
        .arg(dir.path())
        .args(["--contains", &hashed, "--output", "json"])
        .output()
        .unwrap();
    let found = String::from_utf8(found.stdout).unwrap();
    assert!(
        found.contains("hp_change") && !found.contains("resume"),
        "{found}"
    );
}

#[test]
fn hash_with_a_missing_or_bad_key_file_fails_without_printing_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    auditlog()
        .args(["hash", "v", "--key"])
        .arg(&missing)
        .assert()
        .code(2);
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "deadbeefdeadbeefdeadbeefdeadbeefXX").unwrap();
    let out = auditlog()
        .args(["hash", "v", "--key"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("deadbeef"));
}
