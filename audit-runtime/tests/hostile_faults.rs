//! Regression tests for what a hostile tester broke (issue [5]): torn writes, a removed lock
//! file, rotation, planted symbolic links, reset file modes, far-future timestamps,
//! interrupted rewrites and recoveries found by a running writer. Each test is named after
//! the bug and fails on the code before its fix. The torn writes are reproduced here the way
//! the kernel leaves them; `crash_kill.rs` does the same with real SIGKILLs. Part of the
//! fault-injection suite of issue [12]: every log these tests read back is also read by
//! Python's `json` / `csv` modules, which must see the same events.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use audit_runtime::{
    AuditError, AuditLogger, Format, RecoveryKind, Status, Timestamp, read::CsvEvents,
};
use serde_json::{Value, json};

#[path = "common/python.rs"]
mod python;

fn logger(dir: &Path, format: Format) -> AuditLogger {
    AuditLogger::builder(dir).format(format).build().unwrap()
}

fn log_path(dir: &Path, format: Format) -> PathBuf {
    dir.join(format.file_name().unwrap())
}

fn lock_path(dir: &Path, format: Format) -> PathBuf {
    dir.join(format!(".{}.lock", format.file_name().unwrap()))
}

fn log(logger: &AuditLogger, id: &str) {
    logger
        .log_event("tag_add", Status::Success, json!({"id": id}), None)
        .unwrap();
}

/// The ids of the events in a log, in file order, read by foreign-style strict parsers
/// (serde_json over the whole array, the csv crate over every row, and Python's `json` /
/// `csv`, which must agree): panics if it does not parse.
fn ids(dir: &Path, format: Format) -> Vec<String> {
    ids_of(&log_path(dir, format), format)
}

fn ids_of(path: &Path, format: Format) -> Vec<String> {
    let bytes = fs::read(path).unwrap();
    let details: Vec<Value> = match format {
        Format::Json => {
            let events: Vec<Value> = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
            events.into_iter().map(|e| e["details"].clone()).collect()
        }
        _ => csv::ReaderBuilder::new()
            .from_reader(bytes.as_slice())
            .records()
            .map(|r| {
                let r = r.unwrap_or_else(|e| panic!("{} is not valid CSV: {e}", path.display()));
                assert_eq!(r.len(), 5);
                serde_json::from_str(&r[3]).unwrap()
            })
            .collect(),
    };
    let ids: Vec<String> = details
        .iter()
        .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        python::python_ids(path, format),
        ids,
        "Python reads other events in {} than serde_json / the csv crate",
        path.display()
    );
    ids
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One row as our CSV writer writes it (timestamp first, details quoted).
fn csv_row(id: &str, pad: usize) -> String {
    format!(
        "2026-05-27T14:30:00.000001Z,tag_add,success,\"{{\"\"id\"\":\"\"{id}\"\",\"\"pad\"\":\"\"{}\"\"}}\",\r\n",
        "x".repeat(pad)
    )
}

/// Holds the writers' lock the way a writer does, so what the test writes into the file is
/// what a writer killed mid-write would have left.
fn under_writers_lock(dir: &Path, format: Format, f: impl FnOnce()) {
    let lock = File::options()
        .read(true)
        .write(true)
        .open(lock_path(dir, format))
        .unwrap();
    lock.lock().unwrap();
    f();
    lock.unlock().unwrap();
}

/// Appends `bytes` to the CSV log as a writer would have, holding the writers' lock.
fn append_under_writers_lock(dir: &Path, bytes: &[u8]) {
    under_writers_lock(dir, Format::Csv, || {
        let mut file = OpenOptions::new()
            .append(true)
            .open(log_path(dir, Format::Csv))
            .unwrap();
        file.write_all(bytes).unwrap();
    });
}

#[test]
fn torn_csv_row_is_cut_off_before_the_next_row_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let first = logger(dir.path(), Format::Csv);
    log(&first, "before");
    // A second writer, killed while its 1 MB row was being copied: only its first pages.
    let torn = csv_row("victim", 1 << 20);
    append_under_writers_lock(dir.path(), &torn.as_bytes()[..3 * 4096]);
    log(&first, "after");
    assert_eq!(ids(dir.path(), Format::Csv), ["before", "after"]);
    let recovery = first.recovery().expect("the cut is reported");
    assert_eq!(recovery.kind, RecoveryKind::TornWriteCleared);
    assert_eq!(recovery.bytes_cleared, 3 * 4096);
    // Nothing else was needed: no salvage, no copy of the whole log.
    assert_eq!(first.recoveries().len(), 1);
    assert!(!names_in(dir.path()).iter().any(|n| n.contains("corrupt")));
    // A later opener finds a clean log.
    let again = logger(dir.path(), Format::Csv);
    assert!(again.recovery().is_none(), "{:?}", again.recovery());
}

#[test]
fn csv_rows_completed_by_a_killed_writer_or_another_program_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let first = logger(dir.path(), Format::Csv);
    log(&first, "before");
    append_under_writers_lock(dir.path(), csv_row("complete", 10).as_bytes());
    log(&first, "after");
    assert_eq!(
        ids(dir.path(), Format::Csv),
        ["before", "complete", "after"]
    );
    assert!(first.recovery().is_none(), "{:?}", first.recovery());
}

#[test]
fn csv_garbage_past_the_last_row_is_salvaged_with_a_copy_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let first = logger(dir.path(), Format::Csv);
    log(&first, "before");
    append_under_writers_lock(dir.path(), b"not a row of ours, \"half quoted");
    log(&first, "after");
    assert_eq!(ids(dir.path(), Format::Csv), ["before", "after"]);
    assert_eq!(first.recovery().unwrap().kind, RecoveryKind::Salvaged);
    let copies: Vec<String> = names_in(dir.path())
        .into_iter()
        .filter(|n| n.contains("corrupt"))
        .collect();
    assert_eq!(copies.len(), 1, "the foreign bytes are kept aside");
}

/// Writes `bytes` at `at` in the file at `path`, as an edit by hand (or a writer that died
/// after writing them) would leave them.
fn overwrite(path: &Path, at: u64, bytes: &[u8]) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .write_all_at(bytes, at)
        .unwrap();
}

/// Where the gap of a JSON log in our layout ends (the offset of its first event or `]`).
fn gap_end(path: &Path) -> u64 {
    let bytes = fs::read(path).unwrap();
    let spaces = bytes[1..].iter().take_while(|&&b| b == b' ').count();
    assert_eq!(bytes[1 + spaces], b'\n');
    (1 + spaces + 1) as u64
}

/// Leaves in the gap what a JSON writer killed while copying an event of `len` bytes (which
/// spans pages) leaves: the torn mark before the gap's newline, and the event's first `kept`
/// bytes where it was being written.
fn tear_json_event(dir: &Path, len: u64, kept: usize) {
    let path = log_path(dir, Format::Json);
    under_writers_lock(dir, Format::Json, || {
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        let end = gap_end(&path);
        file.write_all_at(b"\r", end - 2).unwrap();
        let event = format!(
            "\n{{\"timestamp\":\"2026-05-27T14:30:00.000001Z\",\"action_type\":\"tag_add\",\"status\":\"success\",\"details\":{{\"id\":\"victim\",\"pad\":\"{}\"}},\"error\":null}},\n",
            "x".repeat(len as usize)
        );
        file.write_all_at(&event.as_bytes()[..kept], end - event.len() as u64)
            .unwrap();
    });
}

#[test]
fn torn_json_event_is_cleared_by_the_next_writer() {
    let dir = tempfile::tempdir().unwrap();
    let first = logger(dir.path(), Format::Json);
    log(&first, "before");
    tear_json_event(dir.path(), 20_000, 8192);
    log(&first, "after");
    assert_eq!(ids(dir.path(), Format::Json), ["after", "before"]);
    let recovery = first.recovery().expect("the torn event is reported");
    assert_eq!(recovery.kind, RecoveryKind::TornWriteCleared);
    assert!(!names_in(dir.path()).iter().any(|n| n.contains("corrupt")));
}

#[test]
fn torn_json_event_is_cleared_on_open_without_a_salvage() {
    for verify in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        log(&logger(dir.path(), Format::Json), "before");
        tear_json_event(dir.path(), 20_000, 4096 + 17);
        let opened = AuditLogger::builder(dir.path())
            .format(Format::Json)
            .verify_on_open(verify)
            .build()
            .unwrap();
        assert_eq!(
            opened.recovery().map(|r| r.kind),
            Some(RecoveryKind::TornWriteCleared)
        );
        assert_eq!(ids(dir.path(), Format::Json), ["before"]);
        log(&opened, "after");
        assert_eq!(ids(dir.path(), Format::Json), ["after", "before"]);
        assert!(!names_in(dir.path()).iter().any(|n| n.contains("corrupt")));
    }
}

#[test]
fn json_torn_mark_alone_is_cleared_silently() {
    let dir = tempfile::tempdir().unwrap();
    let first = logger(dir.path(), Format::Json);
    log(&first, "before");
    tear_json_event(dir.path(), 20_000, 0);
    log(&first, "after");
    assert_eq!(ids(dir.path(), Format::Json), ["after", "before"]);
    assert!(first.recovery().is_none(), "{:?}", first.recovery());
}

#[test]
fn json_events_spanning_pages_are_written_whole() {
    // The torn mark must always be overwritten by the event itself.
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Json);
    for n in 0..40 {
        logger
            .log_event(
                "tag_add",
                Status::Success,
                json!({"id": n.to_string(), "pad": "y".repeat(300 * n)}),
                None,
            )
            .unwrap();
    }
    let bytes = fs::read(log_path(dir.path(), Format::Json)).unwrap();
    assert!(!bytes.contains(&b'\r'));
    assert_eq!(ids(dir.path(), Format::Json).len(), 40);
}

#[test]
fn removed_lock_file_does_not_end_locking() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let first = logger(dir.path(), format);
        log(&first, "first-0");
        fs::remove_file(lock_path(dir.path(), format)).unwrap();
        // A writer started now creates a new lock file; the first must lock that one too.
        let second = logger(dir.path(), format);
        let per_thread = 1500;
        std::thread::scope(|s| {
            for (name, logger) in [("a", &first), ("b", &second), ("c", &first), ("d", &second)] {
                s.spawn(move || {
                    for n in 0..per_thread {
                        log(logger, &format!("{name}-{n}"));
                    }
                });
            }
        });
        let found = ids(dir.path(), format);
        assert_eq!(found.len(), 1 + 4 * per_thread, "{format:?}: events lost");
        assert!(lock_path(dir.path(), format).exists());
    }
}

#[test]
fn removed_log_directory_is_recreated_at_the_next_event() {
    for format in [Format::Json, Format::Csv] {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("run");
        let logger = logger(&dir, format);
        log(&logger, "old");
        fs::remove_dir_all(&dir).unwrap();
        log(&logger, "new");
        assert_eq!(ids(&dir, format), ["new"], "{format:?}");
    }
}

#[test]
fn rotated_log_is_noticed_at_the_next_event() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path(), format);
        let writer = logger(dir.path(), format);
        let other = logger(dir.path(), format);
        log(&writer, "old-1");
        log(&other, "old-2");
        let rotated = path.with_extension("rotated");
        fs::rename(&path, &rotated).unwrap();
        log(&writer, "new-1");
        log(&other, "new-2");
        log(&writer, "new-3");
        let mut old = ids_of(&rotated, format);
        let mut new = ids(dir.path(), format);
        if format == Format::Json {
            old.reverse();
            new.reverse();
        }
        assert_eq!(old, ["old-1", "old-2"], "{format:?}");
        assert_eq!(new, ["new-1", "new-2", "new-3"], "{format:?}");
    }
}

#[test]
fn removed_log_is_recreated_at_the_next_event() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let writer = logger(dir.path(), format);
        log(&writer, "old");
        fs::remove_file(log_path(dir.path(), format)).unwrap();
        log(&writer, "new");
        assert_eq!(ids(dir.path(), format), ["new"], "{format:?}");
    }
}

fn assert_refused(result: Result<impl std::fmt::Debug, AuditError>, path: &Path) {
    match result {
        Err(AuditError::NotARegularFile { path: named, found }) => {
            assert_eq!(named, path);
            assert_eq!(found, "a symbolic link");
        }
        other => panic!("expected a refusal naming {}: {other:?}", path.display()),
    }
}

#[test]
fn symlink_planted_at_the_lock_file_is_refused_and_its_target_untouched() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        fs::write(&victim, "precious content\n").unwrap();
        let lock = lock_path(dir.path(), format);
        std::os::unix::fs::symlink(&victim, &lock).unwrap();
        assert_refused(
            AuditLogger::builder(dir.path()).format(format).build(),
            &lock,
        );
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious content\n");
        // A dangling link creates nothing at its target.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("created-through-the-link");
        std::os::unix::fs::symlink(&target, lock_path(dir.path(), format)).unwrap();
        assert_refused(
            AuditLogger::builder(dir.path()).format(format).build(),
            &lock_path(dir.path(), format),
        );
        assert!(!target.exists());
    }
}

#[test]
fn symlink_planted_at_the_log_is_refused_and_never_copied_or_printed() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, "root:$6$hash-that-must-not-leak:19000::::::\n").unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
        let path = log_path(dir.path(), format);
        std::os::unix::fs::symlink(&secret, &path).unwrap();
        let err = AuditLogger::builder(dir.path())
            .format(format)
            .build()
            .unwrap_err();
        assert!(
            !err.to_string().contains("hash-that-must-not-leak"),
            "{err}"
        );
        assert_refused(Err::<(), _>(err), &path);
        assert_eq!(
            names_in(dir.path()),
            [
                format!(".{}.lock", format.file_name().unwrap()),
                format.file_name().unwrap().to_owned(),
                "secret".to_owned()
            ],
            "no copy of the link's target"
        );
    }
}

#[test]
fn symlink_swapped_in_while_a_writer_runs_is_refused() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let writer = logger(dir.path(), format);
        log(&writer, "before");
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, "").unwrap();
        let path = log_path(dir.path(), format);
        fs::rename(&path, dir.path().join("moved-away")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        let result = writer.log_event("tag_add", Status::Success, json!({"id": "x"}), None);
        assert_refused(result, &path);
        assert_eq!(fs::read(&elsewhere).unwrap(), b"", "{format:?}");
    }
}

#[test]
fn new_files_are_private_and_file_mode_is_configurable() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let writer = logger(dir.path(), format);
        log(&writer, "a");
        for path in [log_path(dir.path(), format), lock_path(dir.path(), format)] {
            assert_eq!(
                fs::metadata(&path).unwrap().mode() & 0o777,
                0o600,
                "{path:?}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let writer = AuditLogger::builder(dir.path())
            .format(format)
            .file_mode(0o640)
            .build()
            .unwrap();
        log(&writer, "a");
        for path in [log_path(dir.path(), format), lock_path(dir.path(), format)] {
            assert_eq!(
                fs::metadata(&path).unwrap().mode() & 0o777,
                0o640,
                "{path:?}"
            );
        }
    }
}

#[test]
fn rewrites_keep_the_mode_and_owner_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(dir.path(), Format::Json);
    let writer = logger(dir.path(), Format::Json);
    log(&writer, "a");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        // Owned by another user, as when an operator hands the log to an auditors' account.
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    }
    let before = fs::metadata(&path).unwrap();
    // An event larger than the free space makes the writer rewrite the file.
    writer
        .log_event(
            "tag_add",
            Status::Success,
            json!({"id": "big", "pad": "z".repeat(200_000)}),
            None,
        )
        .unwrap();
    let after = fs::metadata(&path).unwrap();
    assert_ne!(before.ino(), after.ino(), "the file was not rewritten");
    assert_eq!(after.mode() & 0o7777, 0o604);
    if root {
        assert_eq!((after.uid(), after.gid()), (65534, 65534));
    }
    // A salvage keeps them too, and so does the copy of the damaged bytes.
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"garbage").unwrap();
    drop(file);
    let reopened = logger(dir.path(), Format::Json);
    assert_eq!(reopened.recovery().unwrap().kind, RecoveryKind::Salvaged);
    let copy = reopened.recovery().unwrap().original_kept_at.unwrap();
    for path in [&path, &copy] {
        let meta = fs::metadata(path).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o604, "{path:?}");
        if root {
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "{path:?}");
        }
    }
}

/// The `details` of every event in file order, oldest first.
fn all_details(dir: &Path, format: Format) -> Vec<(Timestamp, Value)> {
    let path = log_path(dir, format);
    let mut events: Vec<_> = audit_runtime::read::open_events(&path)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.timestamp, Value::Object(e.details))
        })
        .collect();
    if format == Format::Json {
        events.reverse();
    }
    events
}

#[test]
fn far_future_timestamp_in_the_file_keeps_the_real_time_visible() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let future: Timestamp = "2100-01-01T00:00:00.000000Z".parse().unwrap();
        // An event from a clock that jumped ahead (written by another process, say): logged,
        // then given that clock's time by hand, in place (timestamps have a fixed width).
        let stamp = logger(dir.path(), format)
            .log_details("hp_change", Status::Success, Default::default(), None)
            .unwrap()
            .unwrap()
            .to_string();
        let path = log_path(dir.path(), format);
        let bytes = fs::read(&path).unwrap();
        let at = bytes
            .windows(stamp.len())
            .position(|w| w == stamp.as_bytes())
            .unwrap();
        overwrite(&path, at as u64, future.to_string().as_bytes());
        let writer = logger(dir.path(), format);
        let before = Timestamp::now();
        log(&writer, "after-the-jump");
        let after = Timestamp::now();
        let events = all_details(dir.path(), format);
        let (ts, details) = &events[1];
        assert_eq!(*ts, future.next(), "file order and time order still agree");
        let wall: Timestamp = details["_audit"]["wall_clock"]
            .as_str()
            .unwrap_or_else(|| panic!("{format:?}: no wall clock in {details}"))
            .parse()
            .unwrap();
        assert!(
            before <= wall && wall <= after,
            "{wall} not in {before}..{after}"
        );
        assert_eq!(details["id"], "after-the-jump");
    }
}

#[test]
fn small_clock_bumps_do_not_add_a_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    let writer = logger(dir.path(), Format::Json);
    for n in 0..200 {
        log(&writer, &n.to_string());
    }
    for (_, details) in all_details(dir.path(), Format::Json) {
        assert!(details.get("_audit").is_none(), "{details}");
    }
}

#[test]
fn rewrite_killed_between_mark_and_rename_is_not_reported_as_a_recovery() {
    let dir = tempfile::tempdir().unwrap();
    log(&logger(dir.path(), Format::Json), "a");
    let path = log_path(dir.path(), Format::Json);
    // The rewriter's last step before its rename: the old gap's newline becomes a tab. It
    // died there, leaving its temporary too.
    let end = gap_end(&path);
    overwrite(&path, end - 1, b"\t");
    let temp = dir.path().join(".audit_log.json.tmp-99999-1");
    fs::write(&temp, vec![b' '; 100_000]).unwrap();
    let reopened = logger(dir.path(), Format::Json);
    assert!(reopened.recovery().is_none(), "{:?}", reopened.recovery());
    assert_eq!(fs::read(&path).unwrap()[end as usize - 1], b'\n');
    assert!(!temp.exists(), "stale temporary left behind");
    log(&reopened, "b");
    assert_eq!(ids(dir.path(), Format::Json), ["b", "a"]);
}

#[test]
fn stale_temporary_is_removed_by_a_running_writer_before_it_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let writer = logger(dir.path(), Format::Json);
    log(&writer, "a");
    let temp = dir.path().join(".audit_log.json.tmp-99999-2");
    fs::write(&temp, vec![b' '; 100_000]).unwrap();
    writer
        .log_event(
            "tag_add",
            Status::Success,
            json!({"pad": "p".repeat(100_000)}),
            None,
        )
        .unwrap();
    assert!(!temp.exists());
}

#[test]
fn interrupted_salvage_does_not_make_a_second_copy_of_the_same_bytes() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        log(&logger(dir.path(), format), "a");
        let path = log_path(dir.path(), format);
        let mut damaged = fs::read(&path).unwrap();
        damaged.extend_from_slice(b"\x00\x01 damage");
        // Opened twice with the same damage, as when a salvage is killed after keeping its
        // copy and before replacing the log.
        for _ in 0..2 {
            fs::write(&path, &damaged).unwrap();
            let opened = logger(dir.path(), format);
            assert_eq!(opened.recovery().unwrap().kind, RecoveryKind::Salvaged);
        }
        let copies = names_in(dir.path())
            .into_iter()
            .filter(|n| n.contains(".corrupt-"))
            .count();
        assert_eq!(copies, 1, "{format:?}");
    }
}

/// Collects what the runtime reports through `tracing`.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with what the runtime reports through `tracing` going into `captured`.
fn with_warnings_into(captured: &Captured, f: impl FnOnce()) {
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
}

#[test]
fn recovery_found_by_a_running_writer_is_reported_once_and_visible() {
    let captured = Captured::default();
    with_warnings_into(&captured, || {
        let dir = tempfile::tempdir().unwrap();
        let writer = logger(dir.path(), Format::Json);
        log(&writer, "a");
        assert!(writer.recovery().is_none());
        // Someone edits the log in place behind the writer's back.
        let path = log_path(dir.path(), Format::Json);
        let end = gap_end(&path);
        overwrite(&path, end - 2, b"#");
        log(&writer, "b");
        let recovery = writer.recovery().expect("visible through recovery()");
        assert_eq!(recovery.kind, RecoveryKind::Salvaged);
        assert_eq!(ids(dir.path(), Format::Json), ["b", "a"]);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("was damaged").count(), 1, "{text}");
    });
}

#[test]
fn csv_reader_sees_every_row_after_a_torn_row_was_cut() {
    // What `auditlog` and get_log_summary read must agree with the file after the repair.
    let dir = tempfile::tempdir().unwrap();
    let writer = logger(dir.path(), Format::Csv);
    log(&writer, "a");
    append_under_writers_lock(dir.path(), &csv_row("victim", 9000).as_bytes()[..4096]);
    assert_eq!(writer.get_log_summary().unwrap().total_events, 1);
    log(&writer, "b");
    let rows = CsvEvents::new(File::open(log_path(dir.path(), Format::Csv)).unwrap())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
}

#[test]
fn every_failed_event_is_counted_and_reported_without_flooding() {
    let captured = Captured::default();
    with_warnings_into(&captured, || {
        let dir = tempfile::tempdir().unwrap();
        let writer = logger(dir.path(), Format::Json);
        log(&writer, "ok");
        let started = std::time::Instant::now();
        let failures = 200;
        for _ in 0..failures {
            assert!(writer.log_event(" ", Status::Success, None, None).is_err());
        }
        let elapsed = started.elapsed().as_secs();
        let stats = writer.stats();
        assert_eq!(stats.events_written, 1);
        assert_eq!(stats.events_failed, failures);
        assert!(stats.bytes_written > 0);
        let last = stats.last_error.expect("the last error is kept");
        assert!(
            last.message.contains("action type is empty"),
            "{}",
            last.message
        );
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let warnings = text.matches("could not record a").count() as u64;
        // The first failure is reported at once; later ones at most once a second, each
        // report counting those it stands for.
        assert!(warnings >= 1, "{text}");
        assert!(
            warnings <= 1 + elapsed,
            "{warnings} warnings in {elapsed} s: {text}"
        );
    });
}
