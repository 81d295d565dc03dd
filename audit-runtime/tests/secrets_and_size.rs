//! Issue 12, secrets and size: redaction by default from every entry point, keyed hashing,
//! and the size cap per event, checked on the bytes actually written and read back with
//! Python's `json` and `csv` modules.

use std::path::Path;
use std::process::Command;

use audit_runtime::{AuditLogger, Format, HmacKey, Redaction, Status};
use serde_json::{Map, Value, json};

fn logger(dir: &Path, format: Format, cap: Option<usize>) -> AuditLogger {
    let mut builder = AuditLogger::builder(dir).format(format);
    if let Some(cap) = cap {
        builder = builder.max_event_bytes(cap);
    }
    builder.build().expect("open the log")
}

/// The events of the log at `path`, oldest first, each with the bytes it took in the file
/// (a JSON line without its line end and separator; a CSV row without its line end).
fn events_with_sizes(path: &Path) -> Vec<(Value, usize)> {
    let text = std::fs::read_to_string(path).expect("read the log");
    if path.extension().is_some_and(|e| e == "json") {
        let mut events: Vec<(Value, usize)> = text
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| {
                let l = l.strip_suffix(',').unwrap_or(l);
                (
                    serde_json::from_str(l).expect("a line is an event"),
                    l.len(),
                )
            })
            .collect();
        events.reverse();
        events
    } else {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut out = Vec::new();
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record).expect("a row") {
            let details: Value = serde_json::from_str(&record[3]).expect("details are JSON");
            let event = json!({"action_type": &record[1], "details": details, "error": &record[4]});
            out.push((event, record.as_slice().len()));
        }
        // Row sizes as written: the file's lines (no cell holds a raw line break).
        let rows: Vec<usize> = text
            .split("\r\n")
            .skip(1)
            .filter(|r| !r.is_empty())
            .map(str::len)
            .collect();
        assert_eq!(rows.len(), out.len());
        out.iter_mut().zip(rows).for_each(|(e, len)| e.1 = len);
        out
    }
}

/// Python's `json.load` / `csv.DictReader` + `json.loads` read the whole log; prints the
/// number of events and of truncated ones.
fn python_reads(path: &Path) -> (usize, usize) {
    let script = r#"
import csv, json, sys
path = sys.argv[1]
if path.endswith(".json"):
    events = json.load(open(path))
else:
    rows = list(csv.DictReader(open(path, newline="", encoding="utf-8")))
    events = [dict(r, details=json.loads(r["details"])) for r in rows]
cut = [e for e in events if "truncated" in e["details"].get("_audit", {})]
print(len(events), len(cut))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 is needed for this test");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text
        .split_whitespace()
        .map(|n| n.parse::<usize>().expect("a count"));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

fn marks(details: &Value) -> &Vec<Value> {
    details["_audit"]["truncated"]["values"]
        .as_array()
        .expect("a truncated event lists what was cut")
}

#[test]
fn a_million_sample_ids_under_a_64_kib_cap_stay_under_it_and_keep_their_count() {
    let ids: Vec<Value> = (0..1_000_000)
        .map(|i| Value::String(format!("sample_{i:07}")))
        .collect();
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = logger(dir.path(), format, Some(64 * 1024));
        log.log_event(
            "tag_add",
            Status::Success,
            json!({"tag_name": "defect", "samples_affected": 1_000_000, "sample_ids": ids}),
            None,
        )
        .expect("a large event is written, not refused");
        let path = log.path().expect("a file").to_owned();
        let written = std::fs::metadata(&path).expect("stat").len();
        let events = events_with_sizes(&path);
        assert_eq!(events.len(), 1);
        let (event, size) = &events[0];
        assert!(*size <= 64 * 1024, "{format:?}: {size} bytes written");
        let details = &event["details"];
        assert_eq!(details["tag_name"], "defect");
        assert_eq!(details["samples_affected"], 1_000_000);
        let kept = details["sample_ids"].as_array().expect("still an array");
        assert!(kept.len() > 100 && kept.len() < 1_000_000, "{}", kept.len());
        assert_eq!(kept[0], "sample_0000000");
        let cut = &marks(details)[0];
        assert_eq!(cut["path"], "details.sample_ids");
        assert_eq!(cut["type"], "array");
        assert_eq!(cut["count"], 1_000_000);
        assert_eq!(cut["kept"], kept.len());
        assert_eq!(cut["sha256"].as_str().map(str::len), Some(64));
        if format == Format::Csv {
            let cell = serde_json::to_string(details).expect("json");
            assert!(
                cell.encode_utf16().count() <= 32_767,
                "the cell Excel opens"
            );
        }
        assert_eq!(python_reads(&path), (1, 1));
        assert_eq!(log.stats().truncations, 1);
        assert!(written < 2 * 64 * 1024 + 70_000, "{written}");
    }
}

/// The digest in the marker is of the full value's canonical JSON, which Python computes
/// the same way from the list the caller had.
#[test]
fn the_digest_of_a_cut_array_matches_pythons_canonical_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = logger(dir.path(), Format::Json, Some(4096));
    let ids: Vec<u32> = (0..5000).collect();
    log.log_event("tag_add", Status::Success, json!({"sample_ids": ids}), None)
        .expect("log");
    let (event, _) = &events_with_sizes(log.path().expect("a file"))[0];
    let digest = marks(&event["details"])[0]["sha256"]
        .as_str()
        .expect("digest")
        .to_owned();
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import hashlib, json; print(hashlib.sha256(json.dumps(list(range(5000)), \
             sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode()).hexdigest())",
        )
        .output()
        .expect("python3");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
}

fn deep(levels: usize, leaf: Value) -> Value {
    let mut value = leaf;
    for i in 0..levels {
        let mut map = Map::new();
        map.insert(format!("level{i}"), value);
        map.insert("filler".into(), Value::String("f".repeat(20_000)));
        value = Value::Object(map);
    }
    value
}

#[test]
fn huge_deep_and_wide_events_stay_under_the_cap_in_both_formats() {
    let ten_mb = "x".repeat(10 * 1024 * 1024);
    let payloads: Vec<(&str, Value)> = vec![
        ("huge string", json!({"note": ten_mb})),
        (
            "escapes",
            json!({"text": "\"\\\n\u{1}é😀,".repeat(200_000)}),
        ),
        (
            "deep",
            json!({"tree": deep(98, json!("y".repeat(100_000)))}),
        ),
        (
            "many keys",
            Value::Object(
                (0..200_000)
                    .map(|i| (format!("key_{i}"), json!(i)))
                    .collect(),
            ),
        ),
        (
            "ten megabytes of mixed details",
            json!({
                "sample_ids": (0..400_000).map(|i| format!("s{i}")).collect::<Vec<_>>(),
                "origins": (0..400_000).map(|i| ["train", "val", "test"][i % 3]).collect::<Vec<_>>(),
                "notes": (0..1000).map(|i| format!("{i}:{}", "n".repeat(3000))).collect::<Vec<_>>(),
                "small": 1,
            }),
        ),
        (
            "long keys",
            Value::Object(
                (0..300)
                    .map(|i| (format!("{i}{}", "k".repeat(40_000)), json!(i)))
                    .collect(),
            ),
        ),
    ];
    for format in [Format::Json, Format::Csv] {
        for cap in [64 * 1024, audit_runtime::DEFAULT_MAX_EVENT_BYTES] {
            let dir = tempfile::tempdir().expect("tempdir");
            let log = logger(dir.path(), format, Some(cap));
            for (name, details) in &payloads {
                log.log_event(
                    "query_execute",
                    Status::Failed,
                    details.clone(),
                    Some(&"e".repeat(300_000)),
                )
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            let path = log.path().expect("a file").to_owned();
            let events = events_with_sizes(&path);
            assert_eq!(events.len(), payloads.len());
            for ((event, size), (name, _)) in events.iter().zip(&payloads) {
                assert!(*size <= cap, "{format:?} {cap} {name}: {size} bytes");
                if format == Format::Csv {
                    let cell = serde_json::to_string(&event["details"]).expect("json");
                    assert!(cell.encode_utf16().count() <= 32_767, "{name}");
                }
                assert!(
                    event["details"]["_audit"]["truncated"].is_object(),
                    "{name}"
                );
            }
            assert_eq!(python_reads(&path), (payloads.len(), payloads.len()));
            assert_eq!(log.stats().truncations, payloads.len() as u64);
        }
    }
}

#[test]
fn an_event_under_the_cap_is_written_unchanged() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = logger(dir.path(), format, None);
        let details = json!({"sample_ids": (0..1000).map(|i| format!("s{i}")).collect::<Vec<_>>()});
        log.log_event("tag_add", Status::Success, details.clone(), None)
            .expect("log");
        let (event, _) = &events_with_sizes(log.path().expect("a file"))[0];
        assert_eq!(event["details"], details);
        assert_eq!(log.stats().truncations, 0);
    }
}

#[test]
fn the_default_cap_is_one_mib_for_json_and_the_excel_cell_for_csv() {
    let details =
        json!({"sample_ids": (0..200_000).map(|i| format!("sample_{i}")).collect::<Vec<_>>()});
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = logger(dir.path(), format, None);
        log.log_event("tag_add", Status::Success, details.clone(), None)
            .expect("log");
        let (event, size) = &events_with_sizes(log.path().expect("a file"))[0];
        let cell = serde_json::to_string(&event["details"]).expect("json");
        match format {
            Format::Json => assert!(*size <= 1 << 20 && *size > 900_000, "{size}"),
            _ => assert!(
                cell.encode_utf16().count() <= 32_767 && cell.len() > 25_000,
                "{}",
                cell.len()
            ),
        }
        assert_eq!(marks(&event["details"])[0]["count"], 200_000);
    }
}

#[test]
fn secrets_are_redacted_by_default_from_every_entry_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = logger(dir.path(), Format::Json, None);
    let details = json!({"user": {"password": "hunter2", "apiKey": "k-123"}, "max_tokens": 64, "Authorization": "Bearer abc"});
    log.log_event("hp_change", Status::Success, details.clone(), None)
        .expect("log_event");
    log.log_serialize("hp_change", Status::Success, &details, None)
        .expect("log_serialize");
    log.log_details(
        "hp_change",
        Status::Success,
        details.as_object().expect("object").clone(),
        None,
    )
    .expect("log_details");
    let text = std::fs::read_to_string(log.path().expect("a file")).expect("read");
    for secret in ["hunter2", "k-123", "Bearer abc"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    for (event, _) in events_with_sizes(log.path().expect("a file")) {
        assert_eq!(
            event["details"],
            json!({"user": {"password": "[REDACTED]", "apiKey": "[REDACTED]"}, "max_tokens": 64, "Authorization": "[REDACTED]"})
        );
    }
    assert_eq!(log.stats().redactions, 3);
}

#[test]
fn redaction_can_be_extended_replaced_or_turned_off() {
    let details = json!({"password": "p", "ssn": "123"});
    let cases = [
        (
            Redaction::default().with_keys(["ssn"]),
            json!({"password": "[REDACTED]", "ssn": "[REDACTED]"}),
        ),
        (
            Redaction::only(["ssn"]),
            json!({"password": "p", "ssn": "[REDACTED]"}),
        ),
        (Redaction::none(), json!({"password": "p", "ssn": "123"})),
    ];
    for (redaction, expected) in cases {
        let sink = audit_runtime::MemorySink::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLogger::builder(dir.path())
            .format(Format::Json)
            .redaction(redaction)
            .sink(sink.clone())
            .build()
            .expect("open");
        log.log_event("hp_change", Status::Success, details.clone(), None)
            .expect("log");
        assert_eq!(Value::Object(sink.events()[0].details.clone()), expected);
    }
}

#[test]
fn hashed_redaction_writes_the_keyed_hash_and_creates_a_private_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = AuditLogger::builder(dir.path())
        .format(Format::Csv)
        .redaction(Redaction::default().hashed(true))
        .build()
        .expect("open");
    let key_path = dir.path().join(audit_runtime::HMAC_KEY_FILE_NAME);
    let mode = std::fs::metadata(&key_path)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    log.log_event(
        "hp_change",
        Status::Success,
        json!({"api_key": "sk-live-1", "other": {"api_key": "sk-live-1"}}),
        None,
    )
    .expect("log");
    let key = HmacKey::from_file(&key_path).expect("key");
    let expected = key.hash(&json!("sk-live-1"));
    let (event, _) = &events_with_sizes(log.path().expect("a file"))[0];
    assert_eq!(event["details"]["api_key"], expected.as_str());
    assert_eq!(event["details"]["other"]["api_key"], expected.as_str());
    let text = std::fs::read_to_string(log.path().expect("a file")).expect("read");
    assert!(!text.contains("sk-live-1"));
    let key_text = std::fs::read_to_string(&key_path).expect("read key");
    assert!(!text.contains(key_text.trim()), "the key is not in the log");
}

/// Without hashing anywhere, no key file is created: the directory holds only the log and
/// its lock, as before.
#[test]
fn no_key_file_is_made_for_a_log_that_hashes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = logger(dir.path(), Format::Json, None);
    log.log_event("hp_change", Status::Success, json!({"password": "p"}), None)
        .expect("log");
    assert!(!dir.path().join(audit_runtime::HMAC_KEY_FILE_NAME).exists());
}

struct Service {
    logger: AuditLogger,
}

impl Service {
    #[audit_runtime::audited(
        action = "hp_change",
        logger = &self.logger,
        details(user, note, password, lr),
        redact(note),
        redact(user, hmac)
    )]
    fn set(&self, user: &str, note: &str, password: &str, lr: f64) {
        let _ = (user, note, password, lr);
    }
}

#[test]
fn the_attribute_hashes_its_hmac_keys_and_the_default_list_still_applies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Service {
        logger: logger(dir.path(), Format::Json, None),
    };
    service.set("alice", "private note", "hunter2", 0.1);
    service.set("alice", "other", "x", 0.2);
    let key = HmacKey::from_file(dir.path().join(audit_runtime::HMAC_KEY_FILE_NAME))
        .expect("the key file was made when the first value was hashed");
    let events = events_with_sizes(service.logger.path().expect("a file"));
    for (event, _) in &events {
        let d = &event["details"];
        assert_eq!(
            d["user"],
            key.hash(&json!("alice")).as_str(),
            "same value, same hash"
        );
        assert_eq!(d["note"], "[REDACTED]");
        assert_eq!(d["password"], "[REDACTED]");
        assert!(d["lr"].is_f64());
    }
    assert_eq!(service.logger.stats().redactions, 2);
}

/// Events logged before a logger exists are finished then: the default list applies.
#[test]
fn events_buffered_before_init_are_redacted_with_the_default_list() {
    audit_runtime::log_event(
        "hp_change",
        Status::Success,
        json!({"hub_token": "hf_abc", "max_new_tokens": 5}),
        None,
    )
    .expect("buffered");
    let sink = audit_runtime::MemorySink::new();
    audit_runtime::init(AuditLogger::in_memory(sink.clone())).expect("init");
    let events = sink.events();
    assert_eq!(
        Value::Object(events[0].details.clone()),
        json!({"hub_token": "[REDACTED]", "max_new_tokens": 5})
    );
}

/// Regression for the HMAC key file's temporary name (the process id only): loggers built
/// at once in one process on one key file shared it, so one failed to open or they hashed
/// with different keys. Each logger has a log of its own; only the key file is shared.
#[test]
fn hmac_key_temp_name_collision_between_loggers_built_at_once() {
    const THREADS: usize = 16;
    const ROUNDS: usize = 4;
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_path = dir.path().join("shared.hmac-key");
        let start = std::sync::Barrier::new(THREADS);
        let hashes: Vec<Value> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|i| {
                    let (start, key_path) = (&start, &key_path);
                    let log_dir = dir.path().join(format!("log{i}"));
                    s.spawn(move || {
                        start.wait();
                        let log = AuditLogger::builder(&log_dir)
                            .format(if i % 2 == 0 {
                                Format::Json
                            } else {
                                Format::Csv
                            })
                            .redaction(Redaction::default().hashed(true))
                            .hmac_key_file(key_path)
                            .build()
                            .unwrap_or_else(|e| panic!("round {round}, logger {i}: {e}"));
                        log.log_event("hp_change", Status::Success, json!({"token": "t"}), None)
                            .expect("log");
                        let events = events_with_sizes(log.path().expect("a file"));
                        events[0].0["details"]["token"].clone()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        let key = HmacKey::from_file(&key_path).expect("one key file");
        let expected = key.hash(&json!("t"));
        for hash in &hashes {
            assert_eq!(
                hash,
                expected.as_str(),
                "every logger hashed with the file's key"
            );
        }
        let temps: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(temps.is_empty(), "temporary files left behind: {temps:?}");
    }
}
