//! One test per kind of tampering, on JSON and CSV, each asserting the sequence number the
//! verifier reports; and the logs that must verify: untouched, reformatted, continued from
//! the reference's files, rotated, restarted, rewritten (gap regrown), written by threads.

#[path = "common/integrity.rs"]
mod helpers;
use helpers::*;

use audit_runtime::integrity::chain::{Hash, Link};
use audit_runtime::integrity::{self, verify_file};
use audit_runtime::{AuditEvent, AuditLogger, Format, Status};
use serde_json::json;

const N: u64 = 20;
const EVERY: u64 = 5;

struct Case {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    keys: Keys,
    format: Format,
}

fn case(format: Format) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let path = write_log(dir.path(), format, N, Some(&keys.private), EVERY);
    Case {
        _dir: dir,
        path,
        keys,
        format,
    }
}

impl Case {
    fn seq(&self) -> u64 {
        problem_seq(&self.path, Some(&self.keys.key))
    }
    fn edit(&self, f: impl FnOnce(&mut Vec<String>)) {
        let (mut lines, end) = lines(&self.path);
        f(&mut lines);
        write_lines(&self.path, &lines, end);
    }
    fn line(&self, seq: u64) -> usize {
        line_of(self.format, N, seq)
    }
    fn sidecar(&self) -> std::path::PathBuf {
        integrity::sidecar_path(&self.path)
    }
    /// Logs one more event into the case's log, signed with `private`.
    fn log_one_more(&self, private: &std::path::Path) {
        let logger = AuditLogger::builder(self.path.parent().unwrap())
            .format(self.format)
            .signing_key(private)
            .build()
            .unwrap();
        logger
            .log_event("pause", Status::Success, None, None)
            .unwrap();
    }
}

fn untouched_passes(format: Format) {
    let c = case(format);
    let report = verify_file(&c.path, Some(&c.keys.key)).unwrap().unwrap();
    assert_eq!(report.chained, N);
    assert_eq!(report.head.unwrap().0, N);
    assert_eq!(report.first_seq, Some(1));
    assert_eq!(report.last_digest.unwrap().0, N);
    assert_eq!(report.digests_matched, N / EVERY);
}

fn changed_value(format: Format) {
    let c = case(format);
    let at = c.line(7);
    c.edit(|l| {
        let before = l[at].clone();
        l[at] = before
            .replace("\"i\":7,", "\"i\":70,")
            .replace("\"\"i\"\":7,", "\"\"i\"\":70,");
        assert_ne!(l[at], before);
    });
    assert_eq!(c.seq(), 7);
}

fn changed_status(format: Format) {
    let c = case(format);
    let at = c.line(8);
    c.edit(|l| {
        let before = l[at].clone();
        l[at] = before.replace("failed", "success");
        assert_ne!(l[at], before);
    });
    assert_eq!(c.seq(), 8);
}

fn changed_timestamp(format: Format) {
    let c = case(format);
    let at = c.line(9);
    c.edit(|l| {
        // The last microsecond digit: the order of the file is kept.
        let mut bytes = l[at].clone().into_bytes();
        let pos = l[at].find('Z').unwrap() - 1;
        bytes[pos] = if bytes[pos] == b'0' { b'1' } else { b'0' };
        l[at] = String::from_utf8(bytes).unwrap();
    });
    assert_eq!(c.seq(), 9);
}

fn deleted_event(format: Format) {
    let c = case(format);
    let at = c.line(7);
    c.edit(|l| {
        l.remove(at);
    });
    assert_eq!(c.seq(), 7);
}

fn deleted_oldest_event(format: Format) {
    let c = case(format);
    let at = c.line(1);
    c.edit(|l| {
        l.remove(at);
        if format == Format::Json {
            // The new oldest line ends the array: no comma after it.
            let last = at - 1;
            l[last] = l[last].trim_end_matches(',').to_owned();
        }
    });
    assert_eq!(c.seq(), 1);
}

fn inserted_event(format: Format) {
    let c = case(format);
    // An event without a link, between seq 7 and 8.
    let plain = json!({"timestamp": "2000-01-01T00:00:00.000000Z", "action_type": "pause",
                       "status": "success", "details": {}, "error": null});
    let (at, row) = match format {
        Format::Csv => (
            c.line(7) + 1,
            "2000-01-01T00:00:00.000000Z,pause,success,{},".to_owned(),
        ),
        _ => (c.line(8) + 1, format!("{plain},")),
    };
    c.edit(|l| l.insert(at, row));
    // JSON reads newest first (after 8 comes the stranger where 7 belongs); CSV oldest first.
    assert_eq!(c.seq(), if format == Format::Csv { 8 } else { 7 });
}

fn replayed_event(format: Format) {
    let c = case(format);
    let copy_of = c.line(3);
    let at = match format {
        Format::Csv => c.line(7) + 1,
        _ => c.line(8) + 1,
    };
    c.edit(|l| {
        let row = l[copy_of].clone();
        l.insert(at, row);
    });
    assert_eq!(c.seq(), if format == Format::Csv { 8 } else { 7 });
}

fn swapped_events(format: Format) {
    let c = case(format);
    let (a, b) = (c.line(7), c.line(8));
    c.edit(|l| l.swap(a, b));
    // The first sequence number out of place, in the file's order.
    assert_eq!(c.seq(), if format == Format::Csv { 7 } else { 8 });
}

fn newest_events_cut_off(format: Format) {
    let c = case(format);
    c.edit(|l| match format {
        Format::Csv => l.truncate(l.len() - 7),
        _ => {
            l.drain(1..8);
        }
    });
    // Seq 14 to 20 are gone; the digest of seq 20 says they existed.
    assert_eq!(c.seq(), 14);
}

fn digest_deleted(format: Format) {
    let c = case(format);
    let (mut d, end) = lines(&c.sidecar());
    d.remove(1); // the digest of seq 10
    write_lines(&c.sidecar(), &d, end);
    let p = problem(&c.path, Some(&c.keys.key)).unwrap();
    assert!(p.in_digests);
    assert_eq!((p.seq, p.line), (Some(15), 2));
}

fn digest_changed(format: Format) {
    let c = case(format);
    let (mut d, end) = lines(&c.sidecar());
    let v: serde_json::Value = serde_json::from_str(&d[1]).unwrap();
    let other = v["hash"]
        .as_str()
        .unwrap()
        .replace('a', "b")
        .replace('0', "1");
    d[1] = d[1].replace(v["hash"].as_str().unwrap(), &other);
    write_lines(&c.sidecar(), &d, end);
    let p = problem(&c.path, Some(&c.keys.key)).unwrap();
    assert!(p.in_digests);
    assert_eq!(p.seq, Some(10));
    // Without the key the changed digest still disagrees with the log.
    assert_eq!(problem_seq(&c.path, None), 10);
}

fn digest_forged(format: Format) {
    let c = case(format);
    // Someone with their own key writes a whole new sidecar for the log.
    let forger = keys(
        c._dir
            .path()
            .join("..")
            .as_path()
            .canonicalize()
            .unwrap()
            .as_path(),
    );
    std::fs::remove_file(c.sidecar()).unwrap();
    c.log_one_more(&forger.private);
    std::fs::remove_file(&forger.private).unwrap();
    std::fs::remove_file(&forger.public).unwrap();
    let p = problem(&c.path, Some(&c.keys.key)).unwrap();
    assert!(p.in_digests);
    assert_eq!(p.seq, Some(N + 1));
}

fn chain_recomputed_after_an_edit(format: Format) {
    let c = case(format);
    let mut events = events_oldest_first(&c.path);
    events[6].details["lr"] = json!(123.0); // seq 7
    recompute_chain(&mut events);
    rewrite(&c.path, format, &events);
    // The chain holds again, but the first digest after the edit (seq 10) names the real
    // hash (the digests' own chain and signatures are intact).
    assert_eq!(problem_seq(&c.path, None), 10);
    assert_eq!(c.seq(), 10);
    // And deleting the sidecar does not help once a key is given.
    std::fs::remove_file(c.sidecar()).unwrap();
    assert!(verify_file(&c.path, None).unwrap().is_ok());
    let p = problem(&c.path, Some(&c.keys.key)).unwrap();
    assert!(
        p.in_digests && p.message.contains("no signed digest"),
        "{p:?}"
    );
}

/// Recomputes seq `seq`'s hash after its content changed, with the true hash of the event
/// before it: the edited event itself then holds, the next one does not.
fn replace_event(events: &mut [AuditEvent], seq: u64, prev: Hash) {
    let i = usize::try_from(seq - 1).unwrap();
    let e = &mut events[i];
    let content = integrity::content_hash(
        &e.action_type,
        e.status.as_str(),
        &e.details,
        e.error.as_deref(),
    );
    let ts = e.timestamp.to_string();
    let hash = integrity::link_hash(&prev, seq, false, ts.as_bytes(), &content);
    e.details["_audit"]["chain"]["hash"] = json!(integrity::chain::to_hex(&hash));
}

fn link(e: &AuditEvent) -> Link {
    Link::from_details(&e.details).unwrap().unwrap()
}

fn one_event_replaced_with_its_own_hash_recomputed(format: Format) {
    let c = case(format);
    let mut events = events_oldest_first(&c.path);
    events[6].details["lr"] = json!(123.0); // seq 7
    let prev = link(&events[5]).hash;
    replace_event(&mut events, 7, prev);
    rewrite(&c.path, format, &events);
    // Seq 7 holds on its own; seq 8 is bound to the hash seq 7 had, and says so.
    let p = problem(&c.path, Some(&c.keys.key)).unwrap();
    assert_eq!(p.seq, Some(8), "{p:?}");
    assert!(
        p.message
            .contains("the event before it (seq 7) was replaced"),
        "{p:?}"
    );
}

fn only_a_files_first_link_stores_prev(format: Format) {
    let c = case(format);
    let events = events_oldest_first(&c.path);
    assert!(link(&events[0]).first);
    assert_eq!(link(&events[0]).prev, Some(integrity::chain::GENESIS));
    for e in &events[1..] {
        assert_eq!(link(e).prev, None, "{:?}", e.details);
        assert!(e.details["_audit"]["chain"].get("prev").is_none());
    }
}

/// Every link's `prev` stored, as this project's links were written before 2026-12-02.
fn store_every_prev(events: &mut [AuditEvent]) {
    let hashes: Vec<Hash> = events.iter().map(|e| link(e).hash).collect();
    for (e, prev) in events.iter_mut().skip(1).zip(hashes) {
        e.details["_audit"]["chain"]["prev"] = json!(integrity::chain::to_hex(&prev));
    }
}

fn links_that_store_prev_as_older_versions_wrote_verify(format: Format) {
    let c = case(format);
    let mut events = events_oldest_first(&c.path);
    store_every_prev(&mut events);
    rewrite(&c.path, format, &events);
    let report = verify_file(&c.path, Some(&c.keys.key)).unwrap().unwrap();
    assert_eq!(report.head.unwrap().0, N);
    // And such a log is continued with links that leave `prev` out.
    c.log_one_more(&c.keys.private);
    let report = verify_file(&c.path, Some(&c.keys.key)).unwrap().unwrap();
    assert_eq!(report.head.unwrap().0, N + 1);
    // A changed value is still found at its own event.
    let mut events = events_oldest_first(&c.path);
    events[6].details["lr"] = json!(123.0);
    rewrite(&c.path, format, &events);
    assert_eq!(c.seq(), 7);
}

fn a_stored_prev_that_names_another_event_is_found(format: Format) {
    let c = case(format);
    let mut events = events_oldest_first(&c.path);
    store_every_prev(&mut events);
    // Seq 9 claims to follow seq 7 (and its own hash is made to fit that claim).
    let wrong = link(&events[6]).hash;
    events[8].details["_audit"]["chain"]["prev"] = json!(integrity::chain::to_hex(&wrong));
    replace_event(&mut events, 9, wrong);
    rewrite(&c.path, format, &events);
    // The first link out of place in the file's order: oldest first seq 9 does not follow
    // seq 8; newest first seq 10 names the hash seq 9 had before.
    let p = problem(&c.path, Some(&c.keys.key)).unwrap();
    let expected = if format == Format::Csv { 9 } else { 10 };
    assert_eq!(p.seq, Some(expected), "{p:?}");
    assert!(
        p.message.contains("does not link to the event before it"),
        "{p:?}"
    );
}

fn reformatting_is_not_tampering(format: Format) {
    let c = case(format);
    let events = events_oldest_first(&c.path);
    rewrite(&c.path, format, &events);
    let report = verify_file(&c.path, Some(&c.keys.key)).unwrap().unwrap();
    assert_eq!(report.head.unwrap().0, N);
    // Re-encoded the other way round too (JSON as compact lines, CSV quoted only as needed).
    let text = std::fs::read_to_string(&c.path).unwrap();
    assert!(text.contains('\n'));
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod json { $( #[test] fn $name() { super::$name(audit_runtime::Format::Json) } )* }
        mod csv { $( #[test] fn $name() { super::$name(audit_runtime::Format::Csv) } )* }
    };
}

both!(
    untouched_passes,
    changed_value,
    changed_status,
    changed_timestamp,
    deleted_event,
    deleted_oldest_event,
    inserted_event,
    replayed_event,
    swapped_events,
    newest_events_cut_off,
    digest_deleted,
    digest_changed,
    digest_forged,
    chain_recomputed_after_an_edit,
    reformatting_is_not_tampering,
    continued_reference_log_verifies,
    rotation_links_the_new_file_to_the_old,
    restarts_continue_the_chain,
    gap_rewrites_and_threads_keep_the_chain,
    own_audit_key_and_empty_details_verify,
    a_quiet_logger_signs_its_newest_events_when_the_interval_passes,
    one_event_replaced_with_its_own_hash_recomputed,
    only_a_files_first_link_stores_prev,
    links_that_store_prev_as_older_versions_wrote_verify,
    a_stored_prev_that_names_another_event_is_found,
);

fn continued_reference_log_verifies(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, name) = match format {
        Format::Csv => ("audit_log.reference.csv", "audit_log.csv"),
        _ => ("audit_log.indent2.json", "audit_log.json"),
    };
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(fixture);
    std::fs::copy(&src, dir.path().join(name)).unwrap();
    let before = audit_runtime::read::open_events(dir.path().join(name))
        .unwrap()
        .count() as u64;
    let path = write_log(dir.path(), format, 3, None, 1);
    let report = verify_file(&path, None).unwrap().unwrap();
    assert_eq!(
        (report.unchained_before, report.chained, report.first_seq),
        (before, 3, Some(1))
    );
}

fn rotation_links_the_new_file_to_the_old(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(format)
        .tamper_evident(true)
        .build()
        .unwrap();
    for _ in 0..5 {
        logger
            .log_event("pause", Status::Success, None, None)
            .unwrap();
    }
    let path = logger.path().unwrap().to_owned();
    let rotated = path.with_extension("rotated");
    std::fs::rename(&path, &rotated).unwrap();
    for _ in 0..5 {
        logger
            .log_event("resume", Status::Success, None, None)
            .unwrap();
    }
    let old = verify_file(&rotated, None).unwrap().unwrap();
    let new = verify_file(&path, None).unwrap().unwrap();
    assert_eq!(old.head.unwrap().0, 5);
    assert_eq!(new.first_seq, Some(6));
    assert_eq!(new.continues, Some(old.head.unwrap().1));
    assert_eq!(new.head.unwrap().0, 10);
}

fn restarts_continue_the_chain(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), format, 4, None, 1);
    let path = write_log(dir.path(), format, 4, None, 1);
    let report = verify_file(&path, None).unwrap().unwrap();
    assert_eq!((report.chained, report.head.unwrap().0), (8, 8));
}

fn gap_rewrites_and_threads_keep_the_chain(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(format)
        .tamper_evident(true)
        .build()
        .unwrap();
    let pad = "p".repeat(400);
    // 4 threads × 500 events of ~600 bytes: about 1.2 MB, several regrowths of the JSON gap
    // (one of them in the background), with the lock passed between queued threads.
    std::thread::scope(|s| {
        for t in 0..4 {
            let (logger, pad) = (&logger, &pad);
            s.spawn(move || {
                for i in 0..500 {
                    logger
                        .log_event(
                            "tag_add",
                            Status::Success,
                            json!({"t": t, "i": i, "pad": pad}),
                            None,
                        )
                        .unwrap();
                }
            });
        }
    });
    let report = verify_file(logger.path().unwrap(), None).unwrap().unwrap();
    assert_eq!((report.chained, report.head.unwrap().0), (2000, 2000));
}

fn own_audit_key_and_empty_details_verify(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(format)
        .tamper_evident(true)
        .build()
        .unwrap();
    // The placeholder path (an `_audit` of the caller's, not an object; one that is; empty
    // details) and the plain one, mixed.
    for details in [
        json!({}),
        json!({"_audit": {"x": 1}, "a": 2}),
        json!({"_audit": 5}),
        json!({"a": 1}),
    ] {
        logger
            .log_event("pause", Status::Success, details, None)
            .unwrap();
    }
    let report = verify_file(logger.path().unwrap(), None).unwrap().unwrap();
    assert_eq!(report.head.unwrap().0, 4);
    let events = events_oldest_first(logger.path().unwrap());
    assert_eq!(events[1].details["_audit"]["x"], 1);
    assert_eq!(events[2].details["_audit"]["value"], 5);
}

/// The interval is kept by a timer, not checked at the next event: a logger that goes quiet
/// has its newest events signed once the interval has passed, while it is still open (the
/// bug: they stayed unsigned until the next event, a flush or the logger's drop).
fn a_quiet_logger_signs_its_newest_events_when_the_interval_passes(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let logger = AuditLogger::builder(dir.path())
        .format(format)
        .signing_key(&keys.private)
        .digest_every(1_000_000, std::time::Duration::from_millis(50))
        .build()
        .unwrap();
    for i in 0..3 {
        logger
            .log_event("pause", Status::Success, json!({"i": i}), None)
            .unwrap();
    }
    let sidecar = integrity::sidecar_path(logger.path().unwrap());
    let signed_seq = || {
        std::fs::read_to_string(&sidecar)
            .ok()
            .and_then(|text| text.lines().last().map(str::to_owned))
            .and_then(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
            .and_then(|digest| digest["seq"].as_u64())
    };
    // Bounded by count: the timer wakes 50 ms after the first event; this waits up to 60 s.
    let mut seen = None;
    for _ in 0..600 {
        seen = signed_seq();
        if seen == Some(3) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        seen,
        Some(3),
        "no digest of the newest head while the logger is open"
    );
    let report = verify_file(logger.path().unwrap(), Some(&keys.key))
        .unwrap()
        .unwrap();
    assert_eq!(report.last_digest.unwrap().0, 3);
    // Nothing new to sign: the timer does not write digest after digest of the same head.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let lines = std::fs::read_to_string(&sidecar).unwrap().lines().count();
    assert_eq!(lines, 1);
}
