//! Tests for reading logs that are being written: [`Snapshot`] and [`Follow`] against the
//! runtime's own writers (in another thread) and against bytes left as a writer mid-write or
//! killed mid-write leaves them.
//!
//! No test depends on speed: loops are bounded by counts, and waiting for another thread is
//! polling with a generous bound that only guards against a stuck thread.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::{AuditEvent, AuditLogger, Status};

fn logger(dir: &Path, format: Format) -> AuditLogger {
    AuditLogger::builder(dir)
        .experiment("read_live_tests")
        .format(format)
        .strict(true)
        .build()
        .unwrap()
}

fn log_path(dir: &Path, format: Format) -> PathBuf {
    dir.join(format.file_name().unwrap())
}

fn log_seq(logger: &AuditLogger, seq: usize, pad: usize) {
    logger
        .log_event(
            "step",
            Status::Success,
            json!({"seq": seq, "pad": "p".repeat(pad), "nl": "a\r\nb,\"c\""}),
            None,
        )
        .unwrap();
}

/// Every event in the file now, oldest first.
fn stored(path: &Path, format: Format) -> Vec<AuditEvent> {
    let mut events: Vec<AuditEvent> = open_events_as(path, format)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    if format == Format::Json {
        events.reverse();
    }
    events
}

fn seqs(events: &[AuditEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.details["seq"].as_u64().unwrap())
        .collect()
}

/// Polls until `want` events came, at most `polls` times (a bound against a follower that
/// never sees them, not a pace: every poll that finds nothing new is cheap).
fn poll_for(follow: &mut Follow, want: usize, polls: usize) -> Vec<AuditEvent> {
    let mut got = Vec::new();
    for _ in 0..polls {
        got.extend(follow.poll());
        if got.len() >= want {
            break;
        }
    }
    got
}

/// Leaves in a JSON log what a writer killed while copying an event that spans pages leaves
/// (the torn mark before the free space's newline, the event's first pages), holding the
/// writers' lock as that writer did.
fn tear_json_event(path: &Path) {
    let lock = File::options()
        .read(true)
        .write(true)
        .open(crate::storage::fs::lock_path(path))
        .unwrap();
    lock.lock().unwrap();
    let bytes = std::fs::read(path).unwrap();
    let spaces = bytes[1..].iter().take_while(|&&b| b == b' ').count();
    let gap_end = (1 + spaces + 1) as u64;
    let event = format!(
        "\n{{\"timestamp\":\"2030-01-01T00:00:00.000000Z\",\"action_type\":\"tag_add\",\"status\":\"success\",\"details\":{{\"pad\":\"{}\"}},\"error\":null}},\n",
        "x".repeat(20_000)
    );
    let file = File::options().write(true).open(path).unwrap();
    file.write_all_at(b"\r", gap_end - 2).unwrap();
    file.write_all_at(&event.as_bytes()[..8192], gap_end - event.len() as u64)
        .unwrap();
    lock.unlock().unwrap();
}

/// The bytes a CSV row of `seq` takes, as the writer writes it.
fn csv_row_bytes(seq: usize) -> Vec<u8> {
    let event = AuditEvent {
        timestamp: "2030-01-01T00:00:00.000001Z".parse().unwrap(),
        action_type: "step".to_owned(),
        status: Status::Success.into(),
        details: json!({"seq": seq, "pad": "q".repeat(300)})
            .as_object()
            .unwrap()
            .clone(),
        error: None,
    };
    let mut out = CsvWriter::new(Vec::new());
    out.write_event(&event).unwrap();
    let bytes = out.finish().unwrap();
    let header = b"timestamp,action_type,status,details,error\r\n".len();
    bytes[header..].to_vec()
}

// ------------------------------------------------------------------ Snapshot

/// A writer in another thread keeps logging (and, for JSON, rewriting the file) while
/// snapshots are taken: each holds only whole events, strictly ordered, and each sees at
/// least what the one before saw.
fn snapshots_while_a_writer_logs(format: Format) {
    const ROUNDS: usize = 30;
    const EVENTS_PER_ROUND: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let writer_logger = logger(dir.path(), format);
    let path = log_path(dir.path(), format);
    let written = Arc::new(AtomicUsize::new(0));
    let total = ROUNDS * EVENTS_PER_ROUND + EVENTS_PER_ROUND;
    let writer = {
        let written = written.clone();
        let path = path.clone();
        std::thread::spawn(move || {
            let mut inode = std::fs::metadata(&path).unwrap().ino();
            let mut replaced = 0;
            for seq in 0..total {
                // Long CSV rows take longer to copy in: more chances to catch one half written.
                log_seq(
                    &writer_logger,
                    seq,
                    if format == Format::Csv { 6000 } else { 900 },
                );
                written.store(seq + 1, Ordering::Release);
                // A moment with no write in progress, as a server leaves between events: a
                // snapshot waiting for the lock gets it (the writer would otherwise take it
                // back at once). It paces nothing the test checks.
                std::thread::sleep(Duration::from_micros(200));
                let now = std::fs::metadata(&path).unwrap().ino();
                if now != inode {
                    inode = now;
                    replaced += 1;
                }
            }
            replaced
        })
    };
    let mut seen = 0;
    for round in 1..=ROUNDS {
        let deadline = Instant::now() + Duration::from_secs(120);
        while written.load(Ordering::Acquire) < round * EVENTS_PER_ROUND {
            assert!(
                Instant::now() < deadline && !writer.is_finished(),
                "writer stuck"
            );
            std::thread::yield_now();
        }
        let snapshot = Snapshot::take(&path, format).unwrap();
        match format {
            Format::Csv => {
                let len = snapshot
                    .locked_len()
                    .expect("the lock is free between writes");
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    bytes[..len as usize].ends_with(b"\r\n"),
                    "not at a row boundary"
                );
                assert_eq!(snapshot.newest_event_at(), None);
            }
            // Without a locked length when a rewrite replaced the file just after the
            // snapshot opened it: the old file then holds every event up to the rewrite.
            _ => assert!(snapshot.newest_event_at().is_some()),
        }
        let events: Vec<AuditEvent> = snapshot.events().collect::<Result<_, _>>().unwrap();
        let mut got = seqs(&events);
        if format == Format::Json {
            got.reverse();
        }
        assert_eq!(
            got,
            (0..got.len() as u64).collect::<Vec<_>>(),
            "round {round}"
        );
        assert!(
            got.len() >= seen.max(round * EVENTS_PER_ROUND),
            "round {round}"
        );
        seen = got.len();
    }
    let replaced = writer.join().unwrap();
    if format == Format::Json {
        assert!(replaced >= 1, "the writer should have rewritten the log");
    }
    assert_eq!(stored(&path, format).len(), total);
}

#[test]
fn snapshots_of_a_json_log_a_thread_is_writing_and_rewriting_are_whole() {
    snapshots_while_a_writer_logs(Format::Json);
}

#[test]
fn snapshots_of_a_csv_log_a_thread_is_appending_to_end_at_a_row() {
    snapshots_while_a_writer_logs(Format::Csv);
}

/// A writer holds the lock while it appends a row in two writes: a snapshot taken meanwhile
/// waits for the lock and sees the whole row, never its first half.
#[test]
fn a_snapshot_taken_while_a_writer_holds_the_lock_mid_row_sees_the_whole_row() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Csv);
    for seq in 0..3 {
        log_seq(&logger, seq, 10);
    }
    let path = log_path(dir.path(), Format::Csv);
    let lock = File::options()
        .read(true)
        .write(true)
        .open(crate::storage::fs::lock_path(&path))
        .unwrap();
    lock.lock().unwrap();
    let row = csv_row_bytes(3);
    let mut file = File::options().append(true).open(&path).unwrap();
    file.write_all(&row[..row.len() / 2]).unwrap();
    let snapshot = {
        let path = path.clone();
        std::thread::spawn(move || Snapshot::take(&path, Format::Csv).unwrap())
    };
    file.write_all(&row[row.len() / 2..]).unwrap();
    let full = std::fs::metadata(&path).unwrap().len();
    lock.unlock().unwrap();
    let snapshot = snapshot.join().unwrap();
    assert_eq!(snapshot.locked_len(), Some(full));
    let events: Vec<AuditEvent> = snapshot.events().collect::<Result<_, _>>().unwrap();
    assert_eq!(seqs(&events), [0, 1, 2, 3]);
}

/// The lock stays held (a writer stuck, or one that holds it for a long rewrite): the
/// snapshot goes on without it. CSV then reads to the end and leaves out a last row that
/// stays cut off; JSON finds the newest event by the probe alone.
#[test]
fn a_snapshot_without_the_lock_falls_back() {
    for format in [Format::Csv, Format::Json] {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        for seq in 0..3 {
            log_seq(&logger, seq, 10);
        }
        let path = log_path(dir.path(), format);
        let lock = File::options()
            .read(true)
            .write(true)
            .open(crate::storage::fs::lock_path(&path))
            .unwrap();
        lock.lock().unwrap();
        let complete = std::fs::metadata(&path).unwrap().len();
        if format == Format::Csv {
            let row = csv_row_bytes(3);
            let mut file = File::options().append(true).open(&path).unwrap();
            file.write_all(&row[..row.len() / 2]).unwrap();
        }
        let snapshot = Snapshot::take_within(&path, format, Duration::from_millis(20)).unwrap();
        assert_eq!(snapshot.locked_len(), None, "{format}");
        let mut events = snapshot.events().skip_cut_off_end();
        let got: Vec<AuditEvent> = events.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 3, "{format}");
        match format {
            Format::Csv => {
                let cut = events.cut_off_end().expect("the half row is left out");
                assert_eq!(
                    (cut.kind, cut.offset),
                    (ScanErrorKind::CutOffAtEnd, complete)
                );
                // Without skipping, the half row is the error that ends the stream.
                let strict: Vec<_> = snapshot.events().collect();
                assert!(strict.last().unwrap().is_err());
            }
            _ => assert!(snapshot.newest_event_at().is_some()),
        }
        lock.unlock().unwrap();
    }
}

/// A log whose lock file is gone (as the reference's logs have none): no locked length, and
/// the newest JSON event is found by the probe.
#[test]
fn a_snapshot_of_a_log_without_a_lock_file() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        for seq in 0..4 {
            log_seq(&logger, seq, 10);
        }
        drop(logger);
        let path = log_path(dir.path(), format);
        std::fs::remove_file(crate::storage::fs::lock_path(&path)).unwrap();
        let snapshot = Snapshot::take(&path, format).unwrap();
        assert_eq!(snapshot.locked_len(), None);
        assert_eq!(snapshot.newest_event_at().is_some(), format == Format::Json);
        let mut got: Vec<AuditEvent> = snapshot.events().collect::<Result<_, _>>().unwrap();
        if format == Format::Json {
            got.reverse();
        }
        assert_eq!(seqs(&got), [0, 1, 2, 3], "{format}");
        // The reader left nothing behind.
        assert!(!crate::storage::fs::lock_path(&path).exists());
    }
}

#[test]
fn a_snapshot_starts_after_an_event_a_killed_writer_left_torn() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Json);
    for seq in 0..3 {
        log_seq(&logger, seq, 10);
    }
    let path = log_path(dir.path(), Format::Json);
    tear_json_event(&path);
    let snapshot = Snapshot::take(&path, Format::Json).unwrap();
    let torn = snapshot.torn_event().expect("the torn event is reported");
    assert_eq!(torn.end + 1, snapshot.newest_event_at().unwrap());
    let events: Vec<AuditEvent> = snapshot.events().collect::<Result<_, _>>().unwrap();
    assert_eq!(seqs(&events), [2, 1, 0]);
    // The next write clears it.
    log_seq(&logger, 3, 10);
    assert_eq!(
        Snapshot::take(&path, Format::Json).unwrap().torn_event(),
        None
    );
}

#[test]
fn a_snapshot_reads_events_back_by_their_spans() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        for seq in 0..5 {
            log_seq(&logger, seq, 10);
        }
        let snapshot = Snapshot::take(log_path(dir.path(), format), format).unwrap();
        let located: Vec<LocatedEvent> = std::iter::from_fn({
            let mut events = snapshot.events();
            move || events.next_located()
        })
        .collect::<Result<_, _>>()
        .unwrap();
        // Logged after the snapshot: offsets stay offsets in the snapshot's file.
        log_seq(&logger, 5, 10);
        for event in located.iter().rev() {
            assert_eq!(snapshot.read_event(event.span()).unwrap(), event.event);
        }
    }
}

// ------------------------------------------------------------------ Follow

#[test]
fn follow_yields_json_events_written_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Json);
    for seq in 0..3 {
        log_seq(&logger, seq, 10);
    }
    let path = log_path(dir.path(), Format::Json);
    let inode = std::fs::metadata(&path).unwrap().ino();
    let (mut follow, recent) = Follow::start(&path, Format::Json, 2).unwrap();
    assert_eq!(seqs(&recent), [1, 2]);
    assert!(follow.poll().is_empty());
    for seq in 3..5 {
        log_seq(&logger, seq, 10);
    }
    assert_eq!(seqs(&follow.poll()), [3, 4]);
    assert!(follow.poll().is_empty());
    log_seq(&logger, 5, 10);
    assert_eq!(seqs(&follow.poll()), [5]);
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "written in place"
    );
}

#[test]
fn follow_starts_on_an_empty_log() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        let path = log_path(dir.path(), format);
        let (mut follow, recent) = Follow::start(&path, format, 10).unwrap();
        assert!(recent.is_empty());
        assert!(follow.poll().is_empty());
        log_seq(&logger, 0, 10);
        log_seq(&logger, 1, 10);
        assert_eq!(seqs(&follow.poll()), [0, 1], "{format}");
    }
}

/// The JSON writer rewrites the log (a new file renamed over the path) when its free space
/// runs out: every event is still yielded once, in order.
#[test]
fn follow_yields_every_json_event_across_gap_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Json);
    log_seq(&logger, 0, 10);
    let path = log_path(dir.path(), Format::Json);
    let (mut follow, _) = Follow::start(&path, Format::Json, 0).unwrap();
    let mut got = Vec::new();
    let mut inode = std::fs::metadata(&path).unwrap().ino();
    let mut rewrites = 0;
    let mut seq = 1;
    // Bounded: padded events fill the free space after a few hundred at most.
    while rewrites < 3 && seq < 5_000 {
        log_seq(&logger, seq, 700);
        seq += 1;
        if seq % 3 == 0 {
            got.extend(follow.poll());
        }
        let now = std::fs::metadata(&path).unwrap().ino();
        if now != inode {
            inode = now;
            rewrites += 1;
        }
    }
    assert_eq!(rewrites, 3);
    got.extend(follow.poll());
    assert_eq!(seqs(&got), (1..seq as u64).collect::<Vec<_>>());
    assert!(follow.poll().is_empty());
}

/// The log renamed away (rotated) and a new one started at the path, and a log replaced by a
/// file with other content: the new file is read from its start, and only events newer than
/// those yielded come out.
#[test]
fn follow_reads_a_replaced_log_from_its_start() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let first = logger(dir.path(), format);
        for seq in 0..3 {
            log_seq(&first, seq, 10);
        }
        let path = log_path(dir.path(), format);
        let (mut follow, recent) = Follow::start(&path, format, 1).unwrap();
        assert_eq!(seqs(&recent), [2]);
        // Rotation: the old file moves away, a new logger starts a new one at the path.
        std::fs::rename(&path, dir.path().join("rotated")).unwrap();
        drop(first);
        assert!(follow.poll().is_empty(), "nothing at the path yet");
        let second = logger(dir.path(), format);
        log_seq(&second, 3, 10);
        log_seq(&second, 4, 10);
        assert_eq!(seqs(&follow.poll()), [3, 4], "{format}");
        // Replaced by a copy holding what was yielded and one event more.
        log_seq(&second, 5, 10);
        let copy = dir.path().join("copy");
        std::fs::copy(&path, &copy).unwrap();
        std::fs::rename(&copy, &path).unwrap();
        assert_eq!(seqs(&follow.poll()), [5], "{format}");
        assert!(follow.poll().is_empty());
    }
}

/// A writer killed in the middle of an event that spans pages leaves part of it before the
/// newest event, with the torn mark: the follower skips it as the writers do, and the event
/// that clears it is yielded.
#[test]
fn follow_skips_a_torn_json_event_as_the_writer_does() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Json);
    for seq in 0..3 {
        log_seq(&logger, seq, 10);
    }
    let path = log_path(dir.path(), Format::Json);
    let (mut follow, _) = Follow::start(&path, Format::Json, 1).unwrap();
    tear_json_event(&path);
    for _ in 0..3 {
        assert!(follow.poll().is_empty(), "a torn event is not an event");
    }
    log_seq(&logger, 3, 10);
    assert_eq!(seqs(&follow.poll()), [3]);
    // A follower started on the torn log starts after the torn event too.
    tear_json_event(&path);
    let (mut late, recent) = Follow::start(&path, Format::Json, 10).unwrap();
    assert_eq!(seqs(&recent), [0, 1, 2, 3]);
    log_seq(&logger, 4, 10);
    assert_eq!(seqs(&late.poll()), [4]);
    assert_eq!(seqs(&follow.poll()), [4]);
}

/// CSV rows are yielded once complete: half a row yields nothing, the rest yields it.
#[test]
fn follow_yields_csv_rows_once_they_are_complete() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Csv);
    for seq in 0..3 {
        log_seq(&logger, seq, 10);
    }
    let path = log_path(dir.path(), Format::Csv);
    let (mut follow, recent) = Follow::start(&path, Format::Csv, 5).unwrap();
    assert_eq!(seqs(&recent), [0, 1, 2]);
    assert!(follow.cut_off_end().is_none());
    for seq in 3..6 {
        log_seq(&logger, seq, 10);
    }
    assert_eq!(seqs(&follow.poll()), [3, 4, 5]);
    drop(logger);
    let row = csv_row_bytes(6);
    let mut file = File::options().append(true).open(&path).unwrap();
    file.write_all(&row[..row.len() / 2]).unwrap();
    for _ in 0..3 {
        assert!(follow.poll().is_empty(), "half a row is not an event");
    }
    file.write_all(&row[row.len() / 2..]).unwrap();
    assert_eq!(seqs(&follow.poll()), [6]);
    assert!(follow.poll().is_empty());
}

/// A follower started while another process's row is half written starts before it, says
/// so, and yields the row once complete.
#[test]
fn follow_started_on_a_cut_off_csv_row_yields_it_once_complete() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Csv);
    for seq in 0..2 {
        log_seq(&logger, seq, 10);
    }
    drop(logger);
    let path = log_path(dir.path(), Format::Csv);
    let complete = std::fs::metadata(&path).unwrap().len();
    let row = csv_row_bytes(2);
    let mut file = File::options().append(true).open(&path).unwrap();
    file.write_all(&row[..row.len() / 2]).unwrap();
    let (mut follow, recent) = Follow::start(&path, Format::Csv, 5).unwrap();
    assert_eq!(seqs(&recent), [0, 1]);
    assert_eq!(follow.cut_off_end().map(|e| e.offset), Some(complete));
    file.write_all(&row[row.len() / 2..]).unwrap();
    assert_eq!(seqs(&follow.poll()), [2]);
}

/// A JSON log in another layout (the reference's `indent=2`) is read again whenever its
/// length or modification time changes.
#[test]
fn follow_rereads_a_log_in_another_layout_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.json");
    let event = |seq: u64, second: u32| {
        json!({"timestamp": format!("2026-05-27T14:30:{second:02}.000000Z"),
               "action_type": "step", "status": "success", "details": {"seq": seq},
               "error": null})
    };
    let write = |events: Vec<serde_json::Value>| {
        std::fs::write(&path, serde_json::to_string_pretty(&events).unwrap()).unwrap();
    };
    write(vec![event(1, 1), event(0, 0)]);
    let (mut follow, recent) = Follow::start(&path, Format::Json, 10).unwrap();
    assert_eq!(seqs(&recent), [0, 1]);
    assert!(follow.poll().is_empty());
    write(vec![event(3, 3), event(2, 2), event(1, 1), event(0, 0)]);
    assert_eq!(seqs(&poll_for(&mut follow, 2, 3)), [2, 3]);
    assert!(follow.poll().is_empty());
}
