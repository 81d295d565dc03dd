//! Shared by the integrity tests: chained logs of known content, a key pair, edits of a
//! log's lines, and a tamperer who recomputes the whole chain.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_runtime::integrity::{self, Hash, Link, PublicKey, SigningKey};
use audit_runtime::{AuditEvent, AuditLogger, Format, Status};
use serde_json::{Value, json};

pub struct Keys {
    pub private: PathBuf,
    pub public: PathBuf,
    pub key: PublicKey,
}

/// A fresh key pair in `dir`.
pub fn keys(dir: &Path) -> Keys {
    let key = SigningKey::generate().unwrap();
    let private = dir.join("audit.key");
    let public = dir.join("audit.pub");
    key.write_files(&private, &public).unwrap();
    Keys {
        private,
        public,
        key: key.public(),
    }
}

/// The details of event `i` (1-based): ints, floats, nesting, text that needs escaping.
pub fn details(i: u64) -> Value {
    json!({
        "i": i,
        "lr": 0.001 * i as f64,
        "big": 9007199254740993u64 + i,
        "tags": ["a", "b\"q", "ü€😀"],
        "nested": {"before": {"x": i}, "after": {"x": i + 1}},
        "note": format!("event {i}\nline two"),
    })
}

/// A chained log of `n` events in `dir`; with `key`, digests every `digest_every` events.
pub fn write_log(
    dir: &Path,
    format: Format,
    n: u64,
    key: Option<&Path>,
    digest_every: u64,
) -> PathBuf {
    let mut builder = AuditLogger::builder(dir)
        .format(format)
        .tamper_evident(true);
    if let Some(key) = key {
        builder = builder
            .signing_key(key)
            .digest_every(digest_every, Duration::from_secs(3600));
    }
    let logger = builder.build().unwrap();
    for i in 1..=n {
        let (status, error) = if i % 4 == 0 {
            (Status::Failed, Some("boom, \"quoted\""))
        } else {
            (Status::Success, None)
        };
        logger
            .log_event(
                if i % 2 == 0 { "hp_change" } else { "tag_add" },
                status,
                details(i),
                error,
            )
            .unwrap();
    }
    let path = logger.path().unwrap().to_owned();
    drop(logger);
    path
}

/// The log's problem, or `None` when it verifies.
pub fn problem(path: &Path, key: Option<&PublicKey>) -> Option<integrity::Problem> {
    integrity::verify_file(path, key).unwrap().err()
}

/// The seq of the problem (panics when the log verifies).
pub fn problem_seq(path: &Path, key: Option<&PublicKey>) -> u64 {
    let p = problem(path, key).expect("the tampering went unnoticed");
    p.seq.expect("a sequence number")
}

/// The file's lines (without their ends) and the line end it uses.
pub fn lines(path: &Path) -> (Vec<String>, &'static str) {
    let text = std::fs::read_to_string(path).unwrap();
    let end = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut lines: Vec<String> = text.split(end).map(str::to_owned).collect();
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    (lines, end)
}

pub fn write_lines(path: &Path, lines: &[String], end: &str) {
    let mut text = lines.join(end);
    text.push_str(end);
    std::fs::write(path, text).unwrap();
}

/// The index in `lines` of the event with sequence number `seq`, for a log of `n` events
/// (JSON: line 0 is `[` and the gap, newest first; CSV: line 0 is the header, oldest first).
pub fn line_of(format: Format, n: u64, seq: u64) -> usize {
    match format {
        Format::Csv => seq as usize,
        _ => (n - seq + 1) as usize,
    }
}

/// Every event of the log, oldest first.
pub fn events_oldest_first(path: &Path) -> Vec<AuditEvent> {
    let mut events: Vec<AuditEvent> = audit_runtime::read::open_events(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    if audit_runtime::read::detect(path).unwrap() != Format::Csv {
        events.reverse();
    }
    events
}

/// Writes `events` (oldest first) as a log in `format`: JSON as one pretty-printed array
/// (the reference's `indent=2` layout), CSV with every cell quoted. Both are reformatting,
/// not tampering.
pub fn rewrite(path: &Path, format: Format, events: &[AuditEvent]) {
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .quote_style(csv::QuoteStyle::Always)
                .terminator(csv::Terminator::CRLF)
                .from_writer(b"timestamp,action_type,status,details,error\r\n".to_vec());
            for e in events {
                w.write_record([
                    e.timestamp.to_string(),
                    e.action_type.clone(),
                    e.status.as_str().to_owned(),
                    serde_json::to_string(&e.details).unwrap(),
                    e.error.clone().unwrap_or_default(),
                ])
                .unwrap();
            }
            std::fs::write(path, w.into_inner().unwrap()).unwrap();
        }
        _ => {
            let newest_first: Vec<&AuditEvent> = events.iter().rev().collect();
            std::fs::write(path, serde_json::to_string_pretty(&newest_first).unwrap()).unwrap();
        }
    }
}

/// What a tamperer without the key does after editing: recomputes every link from the
/// first event on, so that the chain holds again.
pub fn recompute_chain(events: &mut [AuditEvent]) {
    let mut prev: Option<(u64, Hash)> = None;
    for e in events.iter_mut() {
        let Ok(Some(link)) = Link::from_details(&e.details) else {
            continue;
        };
        let (seq, prev_hash) = match prev {
            Some((s, h)) if !link.first => (s + 1, h),
            _ => (link.seq, link.prev.unwrap_or(integrity::chain::GENESIS)),
        };
        let content = integrity::content_hash(
            &e.action_type,
            e.status.as_str(),
            &e.details,
            e.error.as_deref(),
        );
        let hash = integrity::link_hash(
            &prev_hash,
            seq,
            link.first,
            e.timestamp.to_string().as_bytes(),
            &content,
        );
        let chain = &mut e.details["_audit"]["chain"];
        chain["seq"] = json!(seq);
        if link.prev.is_some() {
            chain["prev"] = json!(integrity::chain::to_hex(&prev_hash));
        }
        chain["hash"] = json!(integrity::chain::to_hex(&hash));
        prev = Some((seq, hash));
    }
}
