//! Fault injection: the disk fills up under a running logger (issue [12]).
//!
//! Each test makes the disk full for real, twice where it can: on a small tmpfs the test
//! mounts (when it runs as root and may mount, as on CI), and under `RLIMIT_FSIZE` in a child
//! process (always; with SIGXFSZ ignored a write past the limit fails with `EFBIG`, as a
//! write to a full disk fails with `ENOSPC`). Then it checks what `log_event` returns (an
//! error naming the log and the cause, never `Ok` for an event that is not in the file),
//! that nothing already written is damaged, that serde_json / the csv crate and Python's
//! `json` / `csv` read the log, that no temporary is left, and that the same logger goes on
//! logging once the space is back.
//!
//! The JSON log takes events into its free space (the gap) without the file growing, so a
//! full disk first shows when the gap runs out and the file must be rewritten (regrown):
//! the tests cover events going into the gap while the disk is full, a regrow refused, a
//! background rewrite of a log past a megabyte refused, and CSV rows refused whole or half
//! written.
//!
//! A fail-closed logger on a full disk: after the first failed write every `#[audited]`
//! call is refused before its body runs, and once the space is back the same logger goes
//! on, its first event saying how many calls were refused or lost.

#[path = "common/faults.rs"]
mod faults;

use std::cell::Cell;
use std::path::Path;

use audit_runtime::{AuditError, AuditLogger, AuditUnavailable, Format, Status, audited, read};
use faults::{
    Ledger, Privileges, Tmpfs, assert_error_names, assert_log_holds, assert_no_temporaries,
    log_path,
};

/// How the disk is made full.
enum Full {
    /// A tmpfs filled up by a file.
    Tmpfs,
    /// `RLIMIT_FSIZE` lowered to the log's size (in a child process: the limit is
    /// per process).
    FileSizeLimit,
}

impl Full {
    fn causes(&self) -> &'static [&'static str] {
        match self {
            Full::Tmpfs => &["No space left on device"],
            Full::FileSizeLimit => &["File too large"],
        }
    }
}

/// One disk-full scenario: `warmup` events of `pad` bytes, the disk made full, events
/// logged until one fails (and a few more while it stays full), the space given back, and
/// five more events with the same logger.
struct Scenario {
    format: Format,
    pad: usize,
    warmup: usize,
    /// Whether events must still go into the JSON gap while the disk is full (the gap has
    /// room for several).
    gap_takes_events: bool,
    /// The padding of the events tried while the disk stays full after the first failure
    /// (small ones still fit the JSON gap).
    while_full_pads: &'static [usize],
    /// Bytes left free once the disk is full (a multiple of the page size): less than an
    /// event or a rewrite needs, so that the write that fails first writes part of it.
    leave_free: u64,
}

/// Events tried on a full disk before the test calls the fault missed.
const MAX_EVENTS_UNTIL_FULL: usize = 2_000;

impl Scenario {
    fn run(
        &self,
        dir: &Path,
        how: &Full,
        fill: &mut dyn FnMut(&Path),
        clear: &mut dyn FnMut(&Path),
    ) {
        let format = self.format;
        let path = log_path(dir, format);
        let logger = AuditLogger::builder(dir)
            .format(format)
            .build()
            .expect("open");
        let mut ledger = Ledger::default();
        for _ in 0..self.warmup {
            ledger
                .log(&logger, self.pad)
                .expect("logging before the disk is full");
        }
        assert_log_holds(dir, format, &ledger, true, "before the fault");

        fill(dir);
        let before = ledger.acked.len();
        let mut first_error = None;
        for _ in 0..MAX_EVENTS_UNTIL_FULL {
            if let Err(e) = ledger.log(&logger, self.pad) {
                first_error = Some(e);
                break;
            }
        }
        let err = first_error.unwrap_or_else(|| {
            panic!(
                "{MAX_EVENTS_UNTIL_FULL} events of {} bytes logged on a full disk",
                self.pad
            )
        });
        assert_error_names(&err, &path, how.causes());
        let in_gap = ledger.acked.len() - before;
        if self.gap_takes_events {
            assert!(
                in_gap > 0,
                "no event went into the JSON gap on the full disk"
            );
        }
        println!(
            "{format:?} pad {}: {in_gap} events taken on the full disk, then: {}",
            self.pad,
            err.full_message()
        );
        assert_log_holds(dir, format, &ledger, true, "after the first failure");
        // The failure was a rewrite under the lock (which first waits for a background one)
        // or an append: nothing is being built now, and what the failure left is gone.
        assert_no_temporaries(dir, "after the first failure");

        // While the disk stays full every event either fails or is in the file.
        for &pad in self.while_full_pads {
            let _ = ledger.log(&logger, pad);
        }
        assert_log_holds(dir, format, &ledger, true, "while the disk stays full");
        let stats = logger.stats();
        assert_eq!(
            stats.events_failed,
            ledger.failures.len() as u64,
            "{stats:?}"
        );
        assert_eq!(stats.events_written, ledger.acked.len() as u64, "{stats:?}");
        let last = stats.last_error.expect("the last error is kept");
        assert!(
            last.message.contains(&*path.to_string_lossy()),
            "{}",
            last.message
        );

        clear(dir);
        for n in 0..5 {
            ledger
                .log(&logger, self.pad)
                .unwrap_or_else(|e| panic!("event {n} once the space is back: {e:?}"));
        }
        assert_log_holds(dir, format, &ledger, true, "once the space is back");
        // A logger opened afterwards finds nothing to repair.
        let reopened = AuditLogger::builder(dir)
            .format(format)
            .build()
            .expect("reopen");
        assert!(reopened.recovery().is_none(), "{:?}", reopened.recovery());
    }

    /// Runs the scenario on every full disk this process can make; see [`on_full_disks`].
    fn run_everywhere(&self, test: &str, tmpfs_size: u64) {
        on_full_disks(
            test,
            tmpfs_size,
            self.format,
            self.leave_free,
            &|dir, how, fill, clear| self.run(dir, how, fill, clear),
        );
    }
}

/// What a scenario is given: the directory to log in, how the disk is made full there,
/// and the calls that make it full (leaving some bytes free) and free it again.
type Body<'a> = &'a dyn Fn(&Path, &Full, &mut dyn FnMut(&Path), &mut dyn FnMut(&Path));

/// Runs `body` on a tmpfs when this process may mount one, and under a file-size limit in a
/// child process (or, in that child, plays its part). `test` is the test's name, for the
/// child; `leave_free` bytes are left once the disk is full (for the file-size limit: past
/// the log's current size, or from 0 when there is no log).
fn on_full_disks(test: &str, tmpfs_size: u64, format: Format, leave_free: u64, body: Body<'_>) {
    if faults::child_role().as_deref() == Some("fsize") {
        under_file_size_limit(format, leave_free, body);
        return;
    }
    match Tmpfs::mount(tmpfs_size) {
        Ok(tmpfs) => body(
            &tmpfs.path().join("log"),
            &Full::Tmpfs,
            &mut |dir| {
                let filler = faults::fill_disk(dir);
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&filler)
                    .expect("filler");
                let len = file.metadata().expect("filler").len();
                file.set_len(len.saturating_sub(leave_free))
                    .expect("free a little");
            },
            &mut |dir| std::fs::remove_file(dir.join("filler")).expect("free the space"),
        ),
        Err(why) => println!("no tmpfs ({why}): the file-size limit only"),
    }
    let out = faults::run_child(test, "fsize", Privileges::Same);
    print!("{out}");
}

fn under_file_size_limit(format: Format, leave_free: u64, body: Body<'_>) {
    // SAFETY: plain libc calls on this (child) process only; ignoring SIGXFSZ turns the
    // signal a write past the limit would kill us with into EFBIG from write(2).
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let set_limit = |soft: libc::rlim_t| {
        let rl = libc::rlimit {
            rlim_cur: soft,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: a valid rlimit; lowering the soft limit needs no privilege, and raising it
        // back up to the hard limit neither.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &rl) }, 0);
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    body(
        &tmp.path().join("log"),
        &Full::FileSizeLimit,
        &mut |dir| {
            let len = std::fs::metadata(log_path(dir, format)).map_or(0, |m| m.len());
            set_limit(len + leave_free);
        },
        &mut |_| set_limit(libc::RLIM_INFINITY),
    );
}

#[test]
fn disk_full_json_events_go_on_into_the_gap_and_the_regrow_fails_cleanly() {
    Scenario {
        format: Format::Json,
        pad: 300,
        warmup: 5,
        gap_takes_events: true,
        while_full_pads: &[10, 300, 100_000, 10],
        leave_free: 0,
    }
    .run_everywhere(
        "disk_full_json_events_go_on_into_the_gap_and_the_regrow_fails_cleanly",
        1 << 20,
    );
}

#[test]
fn disk_full_json_regrow_of_a_large_event_fails_and_keeps_the_log() {
    Scenario {
        format: Format::Json,
        pad: 100_000,
        warmup: 3,
        gap_takes_events: false,
        while_full_pads: &[100_000, 10, 200_000, 10],
        leave_free: 64 << 10,
    }
    .run_everywhere(
        "disk_full_json_regrow_of_a_large_event_fails_and_keeps_the_log",
        4 << 20,
    );
}

#[test]
fn disk_full_json_background_rewrite_of_a_large_log_fails_and_keeps_the_log() {
    // Past a megabyte the log is rewritten by a background thread from half-full on; on a
    // full disk that copy fails first, then the regrow under the lock.
    Scenario {
        format: Format::Json,
        pad: 40_000,
        warmup: 40,
        gap_takes_events: true,
        while_full_pads: &[40_000, 10, 10],
        leave_free: 256 << 10,
    }
    .run_everywhere(
        "disk_full_json_background_rewrite_of_a_large_log_fails_and_keeps_the_log",
        16 << 20,
    );
}

#[test]
fn disk_full_csv_rows_fail_whole_and_a_partial_row_is_cut_off() {
    Scenario {
        format: Format::Csv,
        pad: 2_000,
        warmup: 5,
        gap_takes_events: false,
        while_full_pads: &[10, 2_000, 10],
        leave_free: 0,
    }
    .run_everywhere(
        "disk_full_csv_rows_fail_whole_and_a_partial_row_is_cut_off",
        1 << 20,
    );
}

#[test]
fn disk_full_csv_large_row_written_in_part_is_cut_off() {
    Scenario {
        format: Format::Csv,
        pad: 100_000,
        warmup: 3,
        gap_takes_events: false,
        while_full_pads: &[100_000, 10],
        leave_free: 12 << 10,
    }
    .run_everywhere(
        "disk_full_csv_large_row_written_in_part_is_cut_off",
        2 << 20,
    );
}

/// Bug found by this suite: on a full disk, a CSV writer whose lock file is new (removed by
/// a cleanup, or a log another program started) appended the row, which fitted the last
/// page of the log, and then failed to record the log's new end in the lock file (its first
/// bytes need a page): `log_event` returned an error for an event that was in the file, so
/// a caller that retries logs it twice. Needs a tmpfs (root): a file-size limit cannot make
/// a 32-byte write fail while the log is larger.
#[test]
fn csv_event_in_the_file_is_not_reported_as_failed_when_the_lock_file_record_cannot_be_written() {
    let tmpfs = match Tmpfs::mount(1 << 20) {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            println!("no tmpfs ({why}): this fault needs a full file system");
            return;
        }
    };
    let dir = tmpfs.path().join("log");
    let format = Format::Csv;
    let logger = AuditLogger::builder(&dir)
        .format(format)
        .build()
        .expect("open");
    let mut ledger = Ledger::default();
    ledger.log(&logger, 10).expect("before the fault");
    // Another writer still has the old lock file open (so its page stays taken when this
    // writer lets go of it).
    let lock = dir.join(".audit_log.csv.lock");
    let _other_writer = std::fs::File::open(&lock).expect("open the lock file");
    std::fs::remove_file(&lock).expect("rm the lock file");
    let filler = faults::fill_disk(&dir);
    // Small rows still fit the log's last page; whether each is written or refused, the
    // answer must say which.
    for _ in 0..3 {
        let _ = ledger.log(&logger, 10);
    }
    assert_log_holds(&dir, format, &ledger, true, "on the full disk");
    std::fs::remove_file(filler).expect("free the space");
    for _ in 0..3 {
        ledger.log(&logger, 10).expect("once the space is back");
    }
    assert_log_holds(&dir, format, &ledger, true, "once the space is back");
}

#[test]
fn json_log_removed_on_a_full_disk_is_an_error_until_there_is_room_for_a_new_one() {
    log_removed_on_a_full_disk(
        "json_log_removed_on_a_full_disk_is_an_error_until_there_is_room_for_a_new_one",
        Format::Json,
    );
}

#[test]
fn csv_log_removed_on_a_full_disk_is_an_error_until_there_is_room_for_a_new_one() {
    log_removed_on_a_full_disk(
        "csv_log_removed_on_a_full_disk_is_an_error_until_there_is_room_for_a_new_one",
        Format::Csv,
    );
}

/// The log removed by hand (a reader still holding it) while the disk is full: the new log
/// cannot be created, each event is an error naming it, and the same logger starts it once
/// there is room.
fn log_removed_on_a_full_disk(test: &str, format: Format) {
    on_full_disks(test, 1 << 20, format, 0, &|dir, how, fill, clear| {
        let path = log_path(dir, format);
        let logger = AuditLogger::builder(dir)
            .format(format)
            .build()
            .expect("open");
        let mut ledger = Ledger::default();
        for _ in 0..3 {
            ledger.log(&logger, 100).expect("before the fault");
        }
        // Removed by hand while a reader still has it open (so its blocks stay taken).
        let _reader = std::fs::File::open(&path).expect("open the log");
        std::fs::remove_file(&path).expect("rm the log");
        fill(dir);
        let mut new = Ledger::default();
        for _ in 0..3 {
            let err = new.log(&logger, 100).expect_err("a new log on a full disk");
            assert_error_names(&err, &path, how.causes());
        }
        println!(
            "{format:?}, log removed on a full disk: {}",
            new.failures[0]
        );
        assert!(
            !path.exists() || faults::rust_ids(&path, format).is_empty(),
            "no event is in a new log at the path"
        );
        assert_no_temporaries(dir, "after the failed creations");
        clear(dir);
        for _ in 0..3 {
            new.log(&logger, 100)
                .expect("the same logger, once there is room");
        }
        assert_log_holds(dir, format, &new, true, "once there is room");
    });
}

/// The error type of an application function: it carries a refusal (see `fail_closed.rs`).
#[derive(Debug)]
enum StepError {
    Audit(AuditUnavailable),
}

impl From<AuditUnavailable> for StepError {
    fn from(e: AuditUnavailable) -> Self {
        StepError::Audit(e)
    }
}

#[audited(action = "tag_add", logger = logger, details(id, pad))]
fn tag(logger: &AuditLogger, id: &str, pad: &str, ran: &Cell<u32>) -> Result<(), StepError> {
    ran.set(ran.get() + 1);
    Ok(())
}

/// Refused through the attribute's own `fail_closed`, as `AuditError::Unavailable`.
#[audited(action = "checkpoint_restore", logger = logger, details(id), fail_closed)]
fn restore(logger: &AuditLogger, id: &str, ran: &Cell<u32>) -> Result<(), AuditError> {
    ran.set(ran.get() + 1);
    Ok(())
}

/// Which call meets the full disk first.
#[derive(Clone, Copy, Debug)]
enum FirstFailure {
    /// An `#[audited]` call: its body ran, its event could not be written.
    Attribute,
    /// A by-hand `log_event`: its error is the write's.
    LogEvent,
}

/// What the calls of one fail-closed scenario did.
#[derive(Default)]
struct Calls {
    next: usize,
    /// Ids of the events acknowledged, in order: in the log exactly once each.
    acked: Vec<String>,
    /// Ids of the calls refused: each in the log at most as a `failed` refusal record
    /// (which does not hold the id).
    refused: Vec<String>,
}

impl Calls {
    fn id(&mut self) -> String {
        self.next += 1;
        format!("e{}", self.next - 1)
    }
}

const PAD: usize = 300;

/// A fail-closed logger meets a full disk: the first failure is `first`; after it every
/// `#[audited]` call is refused before its body runs (counted, `AuditUnavailable`, the
/// attribute's `fail_closed` too), `check_ready` says why for by-hand callers, nothing
/// already written is damaged, and once the space is back the same logger logs again, its
/// first event carrying `details._audit.outage` with the counts.
fn fail_closed_on_a_full_disk(test: &str, format: Format, first: FirstFailure) {
    on_full_disks(test, 4 << 20, format, 0, &|dir, how, fill, clear| {
        let path = log_path(dir, format);
        let logger = AuditLogger::builder(dir)
            .format(format)
            .fail_closed(true)
            .build()
            .expect("open");
        let ran = Cell::new(0);
        let pad = "p".repeat(PAD);
        let mut calls = Calls::default();
        for _ in 0..5 {
            let id = calls.id();
            tag(&logger, &id, &pad, &ran).expect("before the disk is full");
            calls.acked.push(id);
        }

        fill(dir);
        let mut failed_first = None;
        for _ in 0..MAX_EVENTS_UNTIL_FULL {
            let id = calls.id();
            let before = ran.get();
            let outcome = match first {
                FirstFailure::Attribute => tag(&logger, &id, &pad, &ran).map_err(|e| {
                    let StepError::Audit(e) = e;
                    assert!(e.ran(), "refused before any write failed: {e}");
                    assert_eq!(ran.get(), before + 1);
                    e.to_string()
                }),
                FirstFailure::LogEvent => logger
                    .log_event(
                        "tag_add",
                        Status::Success,
                        serde_json::json!({"id": id, "pad": pad}),
                        None,
                    )
                    .map_err(|e| {
                        assert_error_names(&e, &path, how.causes());
                        e.full_message()
                    }),
            };
            match outcome {
                Ok(()) => calls.acked.push(id),
                Err(message) => {
                    failed_first = Some(message);
                    break;
                }
            }
        }
        let message = failed_first.unwrap_or_else(|| {
            panic!("{MAX_EVENTS_UNTIL_FULL} events of {PAD} bytes logged on a full disk")
        });
        println!("{format:?}, fail-closed, first failure ({first:?}): {message}");
        assert_eq!(logger.stats().events_failed, 1);

        // The disk is still full: refused before the body runs, every time.
        let ran_before = ran.get();
        for n in 0..3 {
            let id = calls.id();
            let e = match tag(&logger, &id, &pad, &ran) {
                Err(StepError::Audit(e)) => e,
                Ok(()) => panic!("call {n} after the failure ran on a full disk"),
            };
            assert!(!e.ran(), "{e}");
            assert!(
                e.to_string().contains(&*path.to_string_lossy()),
                "the refusal names the log: {e}"
            );
            let reason = e.reason();
            assert!(
                match how {
                    Full::Tmpfs => reason.contains("bytes free"),
                    Full::FileSizeLimit => reason.contains("RLIMIT_FSIZE"),
                },
                "the refusal says why: {reason}"
            );
            calls.refused.push(id);
        }
        let id = calls.id();
        match restore(&logger, &id, &ran) {
            Err(AuditError::Unavailable(e)) => assert!(!e.ran(), "{e}"),
            other => panic!("the fail_closed attribute's call was not refused: {other:?}"),
        }
        calls.refused.push(id);
        assert_eq!(ran.get(), ran_before, "no body ran unrecorded");
        let stats = logger.stats();
        assert_eq!(stats.events_refused, 4, "{stats:?}");
        assert_eq!(stats.events_failed, 1, "{stats:?}");
        // A by-hand caller asks first; the answer converts into the crate's error.
        let unavailable = logger
            .check_ready()
            .expect_err("the log cannot take events");
        assert!(!unavailable.ran());
        assert!(matches!(
            AuditError::from(unavailable),
            AuditError::Unavailable(_)
        ));
        assert_eq!(logger.stats().events_refused, 4, "asking is not a refusal");
        assert_no_temporaries(dir, "while the disk is full");
        check_log(&path, format, &calls, "while the disk is full");

        clear(dir);
        let id = calls.id();
        tag(&logger, &id, &pad, &ran).expect("the same logger, once the space is back");
        calls.acked.push(id.clone());
        let id2 = calls.id();
        logger
            .log_event(
                "tag_add",
                Status::Success,
                serde_json::json!({"id": id2}),
                None,
            )
            .expect("log_event, once the space is back");
        calls.acked.push(id2.clone());
        assert_eq!(ran.get(), ran_before + 1);
        let events = check_log(&path, format, &calls, "once the space is back");
        let first_back = events
            .iter()
            .find(|e| e.details.get("id") == Some(&serde_json::Value::from(id.as_str())))
            .expect("the first event once the space is back");
        let outage = &first_back.details["_audit"]["outage"];
        assert_eq!(outage["refused"], 4, "{:?}", first_back.details);
        assert_eq!(outage["failed"], 1, "{:?}", first_back.details);
        assert!(outage["since"].is_string(), "{:?}", first_back.details);
        let next = events
            .iter()
            .find(|e| e.details.get("id") == Some(&serde_json::Value::from(id2.as_str())))
            .expect("the next event");
        assert!(!next.details.contains_key("_audit"), "reported once");
        assert!(logger.check_ready().is_ok());
    });
}

/// Checks the log at `path` with the crate's reader, serde_json / the csv crate and
/// Python: the acknowledged events once each, in order, and besides them only `failed`
/// records of refused calls. Returns the events, oldest first.
fn check_log(
    path: &Path,
    format: Format,
    calls: &Calls,
    when: &str,
) -> Vec<audit_runtime::AuditEvent> {
    let events: Vec<audit_runtime::AuditEvent> = read::open_events(path)
        .unwrap_or_else(|e| panic!("{when}: open {}: {e}", path.display()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{when}: read {}: {e}", path.display()));
    let mut events = events;
    events.sort_by_key(|e| e.timestamp);
    let mut acked = Vec::new();
    let mut refusal_records = 0;
    for event in &events {
        let id = event
            .details
            .get("id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if event.details.get("refused") == Some(&serde_json::Value::Bool(true)) {
            // A refusal's record holds no argument of the call (it did not happen).
            assert_eq!(event.status, Status::Failed, "{when}: {event:?}");
            assert!(
                event
                    .error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("refused: ")),
                "{when}: {event:?}"
            );
            refusal_records += 1;
        } else {
            acked.push(id);
        }
    }
    assert_eq!(
        acked, calls.acked,
        "{when}: the acknowledged events, once, in order"
    );
    assert!(
        refusal_records <= calls.refused.len(),
        "{when}: {refusal_records} refusal records for {} refusals",
        calls.refused.len()
    );
    let strict = faults::rust_ids(path, format);
    let mut by_python = faults::python::python_ids(path, format);
    if format == Format::Json {
        by_python.reverse();
    }
    assert_eq!(
        by_python, strict,
        "{when}: Python reads other events than serde_json"
    );
    assert_eq!(strict.len(), events.len(), "{when}");
    events
}

#[test]
fn fail_closed_json_on_a_full_disk_refuses_calls_before_they_run_and_resumes() {
    fail_closed_on_a_full_disk(
        "fail_closed_json_on_a_full_disk_refuses_calls_before_they_run_and_resumes",
        Format::Json,
        FirstFailure::Attribute,
    );
}

#[test]
fn fail_closed_csv_on_a_full_disk_refuses_calls_before_they_run_and_resumes() {
    fail_closed_on_a_full_disk(
        "fail_closed_csv_on_a_full_disk_refuses_calls_before_they_run_and_resumes",
        Format::Csv,
        FirstFailure::Attribute,
    );
}

#[test]
fn fail_closed_json_log_event_failing_on_a_full_disk_makes_calls_refused() {
    fail_closed_on_a_full_disk(
        "fail_closed_json_log_event_failing_on_a_full_disk_makes_calls_refused",
        Format::Json,
        FirstFailure::LogEvent,
    );
}

#[test]
fn fail_closed_csv_log_event_failing_on_a_full_disk_makes_calls_refused() {
    fail_closed_on_a_full_disk(
        "fail_closed_csv_log_event_failing_on_a_full_disk_makes_calls_refused",
        Format::Csv,
        FirstFailure::LogEvent,
    );
}
