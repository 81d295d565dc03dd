//! `auditlog keygen` and `auditlog verify [--key]` over tamper-evident logs the runtime
//! wrote: what passes, what is reported (sequence number, byte offset, line, exit 1), and
//! that a log without a chain is not reported as intact.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use audit_runtime::{AuditLogger, Format, Status};
use predicates::prelude::*;
use serde_json::json;

fn auditlog() -> Command {
    let mut cmd = Command::cargo_bin("auditlog").unwrap();
    cmd.env_remove("COLUMNS").env("NO_COLOR", "1");
    cmd
}

/// `auditlog keygen` into `dir/keys`: the private and the public key file.
fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let out = dir.join("keys");
    auditlog()
        .args(["keygen", "--out"])
        .arg(&out)
        .assert()
        .success();
    (out.join("audit_signing.key"), out.join("audit_signing.pub"))
}

fn write(dir: &Path, format: Format, n: u64, key: Option<&Path>) -> PathBuf {
    let mut b = AuditLogger::builder(dir)
        .format(format)
        .tamper_evident(true);
    if let Some(key) = key {
        b = b
            .signing_key(key)
            .digest_every(5, Duration::from_secs(3600));
    }
    let logger = b.build().unwrap();
    for i in 1..=n {
        logger
            .log_event(
                "hp_change",
                Status::Success,
                json!({"i": i, "lr": 0.5}),
                None,
            )
            .unwrap();
    }
    logger.path().unwrap().to_owned()
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys");
    let assert = auditlog()
        .args(["keygen", "--out"])
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let private = out.join("audit_signing.key");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let secret = std::fs::read_to_string(&private).unwrap();
    let secret_hex = secret.lines().nth(1).unwrap();
    assert_eq!(secret_hex.len(), 64);
    assert!(!stdout.contains(secret_hex));
    assert!(
        std::fs::read_to_string(out.join("audit_signing.pub"))
            .unwrap()
            .starts_with("audited-ed25519-public-key\n")
    );
    // Never overwritten.
    auditlog()
        .args(["keygen", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exists"));
    assert_eq!(std::fs::read_to_string(&private).unwrap(), secret);
    // Debug of the loaded key shows its id, not the key.
    let key = audit_runtime::integrity::SigningKey::from_file(&private).unwrap();
    assert!(!format!("{key:?}").contains(secret_hex));
}

#[test]
fn a_signed_chain_verifies_and_the_summary_names_head_and_last_digest() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = keygen(dir.path());
        let path = write(dir.path(), format, 12, Some(&private));
        auditlog()
            .arg("verify")
            .arg(&path)
            .arg("--key")
            .arg(&public)
            .assert()
            .code(0)
            .stdout(predicate::str::contains("chain intact: seq 1..12"))
            .stdout(predicate::str::contains("last signed digest: seq 12"));
    }
}

#[test]
fn a_changed_value_is_reported_with_its_seq_offset_and_line() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = keygen(dir.path());
        let path = write(dir.path(), format, 12, Some(&private));
        let text = std::fs::read_to_string(&path).unwrap();
        let (from, to) = match format {
            Format::Csv => ("\"\"i\"\":4,", "\"\"i\"\":40,"),
            _ => ("\"i\":4,", "\"i\":40,"),
        };
        assert_eq!(text.matches(from).count(), 1);
        std::fs::write(&path, text.replace(from, to)).unwrap();
        // Newest first, seq 4's hash is checked once seq 3 is read: seq 12 to 5 are good.
        let (line, good) = match format {
            Format::Csv => (5, 3),
            _ => (10, 8),
        };
        auditlog()
            .arg("verify")
            .arg(&path)
            .arg("--key")
            .arg(&public)
            .assert()
            .code(1)
            .stdout(predicate::str::contains(format!(
                "(line {line}): seq 4: event seq 4 does not match its hash"
            )))
            .stdout(predicate::str::contains(format!(
                "(after {good} good events)"
            )))
            .stdout(predicate::str::contains("problem:").and(predicate::str::contains("byte ")));
    }
}

#[test]
fn a_forged_digest_is_reported_in_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keygen(dir.path());
    let path = write(dir.path(), Format::Json, 10, Some(&private));
    let sidecar = audit_runtime::integrity::sidecar_path(&path);
    let text = std::fs::read_to_string(&sidecar).unwrap();
    // The signature of the first digest, one hex digit changed.
    let at = text.find("\"sig\":\"").unwrap() + 7;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&sidecar, bytes).unwrap();
    auditlog()
        .arg("verify")
        .arg(&path)
        .arg("--key")
        .arg(&public)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "audit_log.json.digests: byte 0 (line 1), digest of seq 5",
        ))
        .stdout(predicate::str::contains("signature does not verify"));
}

#[test]
fn a_log_without_a_chain_is_not_called_intact() {
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .build()
        .unwrap();
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    let path = logger.path().unwrap().to_owned();
    auditlog().arg("verify").arg(&path).assert().code(0).stdout(
        predicate::str::contains("no hash chain")
            .and(predicate::str::contains("integrity NOT checked")),
    );
    let (_, public) = keygen(dir.path());
    auditlog()
        .arg("verify")
        .arg(&path)
        .arg("--key")
        .arg(&public)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("no hash chain"));
}

#[test]
fn a_missing_or_malformed_key_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), Format::Csv, 2, None);
    let missing = dir.path().join("nope.pub");
    auditlog()
        .arg("verify")
        .arg(&path)
        .arg("--key")
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope.pub"));
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "audited-ed25519-private-key\nnot-hex-secret\n").unwrap();
    let err = AuditLogger::builder(dir.path())
        .format(Format::Csv)
        .signing_key(&bad)
        .build()
        .unwrap_err();
    let message = err.full_message();
    assert!(
        message.contains("bad.key") && !message.contains("not-hex-secret"),
        "{message}"
    );
}

/// The third-party verifier in docs/ (Python, standard library for the chain, `cryptography`
/// for signatures) agrees with `auditlog verify`: intact logs pass, an edit is found.
#[test]
fn the_python_verifier_follows_the_same_recipe() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/verify_chain.py");
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = keygen(dir.path());
        let logger = AuditLogger::builder(dir.path())
            .format(format)
            .signing_key(&private)
            .digest_every(3, Duration::from_secs(3600))
            .build()
            .unwrap();
        let details = [
            json!({"lr": 0.001, "big": 9007199254740993u64, "f": 1e21, "tiny": 1e-7, "neg": -2.5}),
            json!({"text": "ü€😀\n\"q\"\t\u{1}", "z": {"b": 1, "a": [true, null, 100.0]}}),
            json!({"tag_name": "=HYPERLINK(\"x\")"}),
        ];
        for (i, d) in details.iter().cycle().take(7).enumerate() {
            let error = (i == 4).then_some("-boom, \"bad\"");
            let status = if error.is_some() {
                Status::Failed
            } else {
                Status::Success
            };
            logger
                .log_event("@tag_add", status, d.clone(), error)
                .unwrap();
        }
        let path = logger.path().unwrap().to_owned();
        drop(logger);
        let run = |path: &Path| {
            std::process::Command::new("python3")
                .arg(&script)
                .arg(path)
                .arg("--key")
                .arg(&public)
                .output()
                .unwrap()
        };
        let out = run(&path);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{format}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("head seq 7") && stdout.contains("last digest seq 7"),
            "{stdout}"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("0.001", "0.002", 1)).unwrap();
        let out = run(&path);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .contains("seq 7: the event does not match its hash")
                || String::from_utf8_lossy(&out.stdout).contains("does not match its hash")
        );
    }
}

/// `--threads 1` and `--threads 2` print the same and exit the same, on a log that holds
/// and on one with a changed value (which the two-thread pass hands back to one thread).
#[test]
fn one_thread_and_two_report_the_same() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = keygen(dir.path());
        let path = write(dir.path(), format, 41, Some(&private));
        let run = |threads: &str| {
            let out = auditlog()
                .args(["verify", "--threads", threads, "--key"])
                .arg(&public)
                .arg(&path)
                .output()
                .unwrap();
            (out.status.code(), String::from_utf8(out.stdout).unwrap())
        };
        let good = run("1");
        assert_eq!(good.0, Some(0), "{format}: {}", good.1);
        assert_eq!(run("2"), good, "{format}");
        let text = std::fs::read_to_string(&path).unwrap();
        let quote = if format == Format::Csv { "\"\"" } else { "\"" };
        let needle = format!("{quote}i{quote}:17,");
        std::fs::write(
            &path,
            text.replacen(&needle, &needle.replace("17", "71"), 1),
        )
        .unwrap();
        let bad = run("1");
        assert_eq!(bad.0, Some(1), "{format}: {}", bad.1);
        assert!(bad.1.contains("seq 17"), "{format}: {}", bad.1);
        assert_eq!(run("2"), bad, "{format}");
    }
    auditlog()
        .args(["verify", "--threads", "3", "."])
        .assert()
        .failure()
        .stderr(predicate::str::contains("3"));
}

/// Runs a verifier (`cmd`, with its arguments so far) on `files` with the public key: its
/// exit code and what it printed.
fn check_set(mut cmd: Command, files: &[PathBuf], public: &Path) -> (Option<i32>, String) {
    let out = cmd.args(files).arg("--key").arg(public).output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

/// A log rotated twice as logrotate does (`.1` moved to `.2`, the log to `.1`) while one
/// logger keeps writing: the three files, given in any order, verify as one chain; without
/// the middle one, the missing sequence numbers are named; without the newest, the digests
/// show its events were cut off.
#[test]
fn a_rotated_set_verifies_as_one_chain_and_a_missing_file_is_found() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = keygen(dir.path());
        let logger = AuditLogger::builder(dir.path())
            .format(format)
            .signing_key(&private)
            .digest_every(3, Duration::from_secs(3600))
            .build()
            .unwrap();
        let path = logger.path().unwrap().to_owned();
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        let mut seq = 0;
        let mut log_five = |logger: &AuditLogger| {
            for _ in 0..5 {
                seq += 1;
                logger
                    .log_event("hp_change", Status::Success, json!({"i": seq}), None)
                    .unwrap();
            }
        };
        log_five(&logger);
        std::fs::rename(&path, rotated(1)).unwrap();
        log_five(&logger);
        std::fs::rename(rotated(1), rotated(2)).unwrap();
        std::fs::rename(&path, rotated(1)).unwrap();
        log_five(&logger);
        drop(logger);
        let verify = |files: &[PathBuf]| {
            let mut cmd = auditlog();
            cmd.arg("verify");
            check_set(cmd, files, &public)
        };
        let (code, out) = verify(&[path.clone(), rotated(2), rotated(1)]);
        assert_eq!(code, Some(0), "{format}: {out}");
        let last = out.lines().last().unwrap();
        assert!(
            last.starts_with("ok: 3 files form one chain: seq 1..15, 15 chained events"),
            "{format}: {out}"
        );
        assert!(
            last.contains(&format!(
                "in order: {}, {}, {}",
                rotated(2).display(),
                rotated(1).display(),
                path.display()
            )),
            "{format}: {out}"
        );
        let (code, out) = verify(&[path.clone(), rotated(2)]);
        assert_eq!(code, Some(1), "{format}: {out}");
        assert!(
            out.contains("seq 6..10 are missing between"),
            "{format}: {out}"
        );
        let (code, out) = verify(&[rotated(2), rotated(1)]);
        assert_eq!(code, Some(1), "{format}: {out}");
        assert!(
            out.contains("ends at seq 10, but a digest names seq 15"),
            "{format}: {out}"
        );
        // One file alone still verifies on its own terms: the current one continues a head.
        let (code, out) = verify(std::slice::from_ref(&path));
        assert_eq!(code, Some(0), "{format}: {out}");
        assert!(
            out.contains("continues a previous file's head"),
            "{format}: {out}"
        );
        // The README's recipe in Python says the same of the set.
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/verify_chain.py");
        let python = |files: &[PathBuf]| {
            let mut cmd = Command::from_std(std::process::Command::new("python3"));
            cmd.arg(&script);
            check_set(cmd, files, &public)
        };
        let (code, out) = python(&[path.clone(), rotated(2), rotated(1)]);
        assert_eq!(code, Some(0), "{format}: {out}");
        assert!(
            out.contains("15 chained events in 3 file(s)") && out.contains("last digest seq 15"),
            "{format}: {out}"
        );
        let (code, out) = python(&[path.clone(), rotated(2)]);
        assert_eq!(code, Some(1), "{format}: {out}");
        assert!(out.contains("a rotated file is missing"), "{format}: {out}");
        let (code, out) = python(&[rotated(2), rotated(1)]);
        assert_eq!(code, Some(1), "{format}: {out}");
        assert!(out.contains("events cut off"), "{format}: {out}");
    }
}
