//! Fault injection: the log's directory or file is taken away or replaced under a running
//! logger (issue [12]): the directory made read-only, deleted while logging, replaced by a
//! file; the log file replaced by a directory.
//!
//! For each, the test checks what `log_event` returns (an error naming the path and the
//! problem, never `Ok` for an event that is not in the file), that what was written is
//! intact, that serde_json / the csv crate and Python's `json` / `csv` read the log, and that
//! the same logger goes on logging once the fault is cleared. Permissions mean nothing to
//! root, so when the suite runs as root (CI) the read-only case runs in a child process as
//! `nobody`, in a directory that user owns; as any other user it runs in the test itself.

#[path = "common/faults.rs"]
mod faults;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use audit_runtime::{AuditError, AuditLogger, Format};
use faults::{
    Ledger, Privileges, assert_error_names, assert_log_holds, assert_no_temporaries, log_path,
};

const FORMATS: [Format; 2] = [Format::Json, Format::Csv];

fn open(dir: &Path, format: Format) -> AuditLogger {
    AuditLogger::builder(dir)
        .format(format)
        .build()
        .expect("open the log")
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The read-only scenario, as a user to whom permissions apply; with `python`, also reads
/// the log with Python at every step. Returns the acknowledged ids.
fn read_only_directory(dir: &Path, format: Format, python: bool) -> Vec<String> {
    let logger = open(dir, format);
    let path = log_path(dir, format);
    let mut ledger = Ledger::default();
    for _ in 0..3 {
        ledger.log(&logger, 100).expect("before the fault");
    }
    chmod(dir, 0o555);
    let probe = fs::File::create(dir.join("probe"));
    assert!(
        probe.is_err(),
        "a file could be created in the read-only directory: permissions are not enforced \
         for this user, and the test would test nothing"
    );
    // Events go on into the open file: the JSON gap, the CSV's end.
    for _ in 0..5 {
        ledger
            .log(&logger, 100)
            .expect("an event that needs no new file, in a read-only directory");
    }
    let big = ledger.log(&logger, 100_000);
    match format {
        // The JSON log must be rewritten (regrown) for this one, which needs a new file.
        Format::Json => {
            let err = big.expect_err("a regrow in a read-only directory");
            assert_error_names(&err, &path, &["Permission denied"]);
            println!("{format:?}, read-only directory: {}", err.full_message());
        }
        _ => big.expect("appending needs no new file"),
    }
    assert_log_holds(dir, format, &ledger, python, "in the read-only directory");
    assert_no_temporaries(dir, "after the refused regrow");
    ledger
        .log(&logger, 100)
        .expect("a small event after the refused regrow");
    assert_eq!(
        logger.stats().events_failed,
        ledger.failures.len() as u64,
        "every failure counted"
    );

    chmod(dir, 0o755);
    ledger
        .log(&logger, 100_000)
        .expect("the same logger, once the directory is writable again");
    for _ in 0..3 {
        ledger.log(&logger, 100).expect("after the fault");
    }
    assert_log_holds(dir, format, &ledger, python, "once writable again");
    ledger.acked
}

#[test]
fn read_only_log_directory_refuses_only_what_needs_a_new_file_and_logging_resumes() {
    const TEST: &str =
        "read_only_log_directory_refuses_only_what_needs_a_new_file_and_logging_resumes";
    if let Some(role) = faults::child_role() {
        // The unprivileged child: the directory (owned by us) is in AUDIT_FAULT_DIR.
        let format: Format = role.parse().expect("format");
        let dir = std::env::var_os("AUDIT_FAULT_DIR").expect("AUDIT_FAULT_DIR");
        let acked = read_only_directory(Path::new(&dir), format, false);
        println!("ACKED {}", serde_json::to_string(&acked).expect("json"));
        return;
    }
    for format in FORMATS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("log");
        fs::create_dir(&dir).expect("mkdir");
        if !faults::is_root() {
            read_only_directory(&dir, format, true);
            continue;
        }
        // As nobody, in a directory nobody owns (and may reach).
        chmod(tmp.path(), 0o755);
        std::os::unix::fs::chown(&dir, Some(faults::NOBODY), Some(faults::NOBODY)).expect("chown");
        // The directory goes to the child through its own environment.
        let out = run_unprivileged(TEST, format, &dir);
        print!("{out}");
        let acked: Vec<String> = out
            .lines()
            .find_map(|l| l.split_once("ACKED ").map(|(_, ids)| ids))
            .map(|json| serde_json::from_str(json).expect("acked ids"))
            .expect("the child reports what it logged");
        let ledger = Ledger {
            acked,
            ..Ledger::default()
        };
        assert_log_holds(&dir, format, &ledger, true, "after the unprivileged child");
    }
}

fn run_unprivileged(test: &str, format: Format, dir: &Path) -> String {
    faults::run_child_with(
        test,
        format.as_str(),
        Privileges::Nobody,
        &[("AUDIT_FAULT_DIR", dir.as_os_str())],
    )
}

#[test]
fn log_directory_deleted_while_logging_is_started_afresh_by_the_same_logger() {
    for format in FORMATS {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("run");
        let logger = open(&dir, format);
        // Small events; events that make the JSON log be regrown under the lock; events that
        // make a log past a megabyte be rewritten in the background when the directory goes.
        for (round, (pad, events)) in [(300, 40), (20_000, 30), (40_000, 60)]
            .into_iter()
            .enumerate()
        {
            let mut ledger = Ledger::default();
            for n in 0..events {
                ledger
                    .log(&logger, pad)
                    .unwrap_or_else(|e| panic!("{format:?} round {round} event {n}: {e:?}"));
            }
            assert_log_holds(&dir, format, &ledger, true, "before the removal");
            fs::remove_dir_all(&dir).expect("rm -rf the log directory");
            let mut after = Ledger::default();
            for n in 0..3 {
                after.log(&logger, pad).unwrap_or_else(|e| {
                    panic!("{format:?} round {round}, event {n} after the removal: {e:?}")
                });
            }
            assert_log_holds(&dir, format, &after, true, "after the removal");
            fs::remove_dir_all(&dir).expect("rm -rf again");
        }
        assert_eq!(logger.stats().events_failed, 0);
    }
}

#[test]
fn log_directory_replaced_by_a_file_is_an_error_until_the_directory_is_back() {
    for format in FORMATS {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("run");
        let logger = open(&dir, format);
        let mut ledger = Ledger::default();
        for _ in 0..3 {
            ledger.log(&logger, 100).expect("before the fault");
        }
        fs::remove_dir_all(&dir).expect("rm -rf");
        fs::write(&dir, "a file where the log directory was\n").expect("plant a file");
        for _ in 0..3 {
            let err = ledger
                .log(&logger, 100)
                .expect_err("an event with a file where the directory should be");
            assert_error_names(&err, &dir, &["Not a directory", "File exists"]);
        }
        println!("{format:?}: {}", ledger.failures[0]);
        assert_eq!(
            fs::read_to_string(&dir).expect("the planted file"),
            "a file where the log directory was\n",
            "nothing is written into the planted file"
        );
        assert_eq!(logger.stats().events_failed, 3);

        fs::remove_file(&dir).expect("take the file away");
        let mut after = Ledger::default();
        for _ in 0..3 {
            after
                .log(&logger, 100)
                .expect("the same logger, once the path is free again");
        }
        assert_log_holds(&dir, format, &after, true, "once the directory is back");
    }
}

#[test]
fn log_file_replaced_by_a_directory_is_refused_until_it_is_gone() {
    for format in FORMATS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let path = log_path(dir, format);
        let logger = open(dir, format);
        let mut ledger = Ledger::default();
        for _ in 0..3 {
            ledger.log(&logger, 100).expect("before the fault");
        }
        fs::remove_file(&path).expect("rm the log");
        fs::create_dir(&path).expect("a directory at the log's path");
        for _ in 0..3 {
            match ledger.log(&logger, 100) {
                Err(AuditError::NotARegularFile { path: named, found }) => {
                    assert_eq!(named, path);
                    assert_eq!(found, "a directory");
                }
                other => panic!(
                    "{format:?}: expected a refusal naming {}, got {other:?}",
                    path.display()
                ),
            }
        }
        assert_eq!(
            fs::read_dir(&path).expect("the directory").count(),
            0,
            "nothing is created inside the directory"
        );
        assert_eq!(logger.stats().events_failed, 3);

        fs::remove_dir(&path).expect("take the directory away");
        let mut after = Ledger::default();
        for _ in 0..3 {
            after
                .log(&logger, 100)
                .expect("the same logger, once the path is free again");
        }
        assert_log_holds(dir, format, &after, true, "once the directory is gone");
    }
}
