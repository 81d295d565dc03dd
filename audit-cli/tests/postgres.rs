//! Shipping into a real PostgreSQL (issue #13): exactly once across processes, hosts, a
//! database stopped mid-shipping and a shipper killed mid-batch; clear errors; `--db` reads
//! that agree with the files. Each test starts its own throwaway cluster (`pg/mod.rs`).
//!
//! Nothing here depends on speed: loops are bounded by counts, and waits are on conditions
//! with generous timeouts.

mod pg;

use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use assert_cmd::Command;
use audit_runtime::ship::{Database, EventQuery, ShipConfig};
use audit_runtime::{AuditEvent, AuditLogger, Format, Status, actor};
use pg::{Cluster, PASSWORD, wait_until};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(180);

fn auditlog() -> Command {
    let mut cmd = Command::cargo_bin("auditlog").unwrap();
    cmd.env_remove("COLUMNS").env("NO_COLOR", "1");
    cmd
}

/// The events of the log in `dir`, oldest first.
fn file_events(dir: &Path) -> Vec<AuditEvent> {
    let path = ["audit_log.json", "audit_log.csv"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.exists())
        .expect("a log");
    let mut events: Vec<AuditEvent> = audit_runtime::read::open_events(&path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    if path.extension().is_some_and(|e| e == "json") {
        events.reverse();
    }
    events
}

/// The events in the database (of `host`, if given), oldest first.
fn db_events(url: &str, host: Option<&str>) -> Vec<AuditEvent> {
    let mut db = Database::connect(url).unwrap();
    let mut query = EventQuery::default();
    query.host = host.map(str::to_owned);
    query.oldest_first = true;
    let mut events = Vec::new();
    db.for_each_event(&query, |e| {
        events.push(e);
        Ok::<bool, audit_runtime::AuditError>(true)
    })
    .unwrap();
    events
}

/// One event of a varied kind, numbered `i`.
fn log_one(logger: &AuditLogger, i: u64) {
    let result = match i % 4 {
        0 => logger.log_event(
            "hp_change",
            Status::Success,
            json!({"step": i, "before": {"lr": 0.01}, "after": {"lr": 0.001}, "note": "ünïcödé \"q\""}),
            None,
        ),
        1 => actor::scope("alice", || {
            logger.log_event(
                "tag_add",
                Status::Success,
                json!({"step": i, "sample_ids": ["s1", "s2"], "request_id": format!("req-{i}")}),
                None,
            )
        }),
        2 => logger.log_event(
            "checkpoint_restore",
            Status::Failed,
            json!({"step": i, "checkpoint_id": "ckpt_001"}),
            Some("Checkpoint file not found"),
        ),
        _ => actor::scope("bob", || {
            logger.log_event("pause", Status::Success, json!({"step": i}), None)
        }),
    };
    result.unwrap();
}

/// The child process of `four_hosts_into_one_database`: logs `count` events into `dir`,
/// shipping them in-process, and flushes (which waits until they are in the database).
#[test]
fn child_writer() {
    let Ok(spec) = std::env::var("AUDITED_PG_CHILD") else {
        return; // only as a child
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let (dir, host, format, count, url) = (parts[0], parts[1], parts[2], parts[3], parts[4]);
    let format = if format == "csv" {
        Format::Csv
    } else {
        Format::Json
    };
    let builder = AuditLogger::builder(dir)
        .experiment(format!("exp-{host}"))
        .format(format);
    // "env": shipping turned on by AUDIT_LOG_POSTGRES_URL alone (set by the parent).
    let builder = if url == "env" {
        builder
    } else {
        builder.ship_to_postgres(
            ShipConfig::new(url)
                .host(host)
                .flush_timeout(Duration::from_secs(170)),
        )
    };
    let logger = builder.build().unwrap();
    for i in 0..count.parse::<u64>().unwrap() {
        log_one(&logger, i);
    }
    logger.flush().unwrap();
    let shipping = logger.stats().shipping.unwrap();
    assert_eq!(shipping.lag_events, 0, "{shipping:?}");
}

#[test]
fn four_hosts_into_one_database() {
    let cluster = Cluster::start();
    let url = cluster.url("audit");
    let root = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    const EVENTS: u64 = 10_000;
    let children: Vec<_> = (0..4)
        .map(|i| {
            let dir = root.path().join(format!("host-{i}"));
            let format = if i % 2 == 0 { "json" } else { "csv" };
            let spec = format!("{}|host-{i}|{format}|{EVENTS}|{url}", dir.display());
            let child = StdCommand::new(&exe)
                .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
                .env("AUDITED_PG_CHILD", spec)
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            (dir, child)
        })
        .collect();
    for (dir, mut child) in children {
        assert!(child.wait().unwrap().success(), "child for {dir:?} failed");
    }
    let per_host = cluster.psql(
        "audit",
        "SELECT host, count(*), max(seq) FROM audit_events GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(cluster.count("audit"), 4 * EVENTS, "{per_host}");
    for i in 0..4 {
        let host = format!("host-{i}");
        let dir = root.path().join(&host);
        let from_file = file_events(&dir);
        assert_eq!(from_file.len() as u64, EVENTS);
        assert_eq!(db_events(&url, Some(&host)), from_file, "{host}");
    }
    // One log per host, numbered 1..=N without a gap, the identity columns filled in.
    let per_log = cluster.psql(
        "audit",
        "SELECT host, experiment, count(*), min(seq), max(seq), count(DISTINCT log_id) \
         FROM audit_events GROUP BY 1, 2 ORDER BY 1",
    );
    let expected: Vec<String> = (0..4)
        .map(|i| format!("host-{i}|exp-host-{i}|{EVENTS}|1|{EVENTS}|1"))
        .collect();
    assert_eq!(per_log, expected.join("\n"));
    assert_eq!(
        cluster.psql(
            "audit",
            "SELECT count(*) FROM audit_events WHERE actor = 'alice' AND request_id LIKE 'req-%'"
        ),
        (EVENTS).to_string()
    );
}

#[test]
fn the_environment_variable_turns_shipping_on() {
    let cluster = Cluster::start();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("from-env");
    let status = StdCommand::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env(
            "AUDITED_PG_CHILD",
            format!("{}|-|json|300|env", dir.display()),
        )
        .env("AUDIT_LOG_POSTGRES_URL", cluster.url("audit"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(cluster.count("audit"), 300);
    assert_eq!(db_events(&cluster.url("audit"), None), file_events(&dir));
    let dir = dir.canonicalize().unwrap();
    assert_eq!(
        cluster.psql(
            "audit",
            "SELECT DISTINCT root_log_dir || ' ' || experiment FROM audit_events"
        ),
        format!("{} exp--", dir.display())
    );
}

#[test]
fn database_stopped_mid_shipping_loses_and_duplicates_nothing() {
    let cluster = Cluster::start();
    let url = cluster.url("audit");
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .ship_to_postgres(
            ShipConfig::new(url.clone())
                .batch_size(50)
                .flush_timeout(LONG),
        )
        .build()
        .unwrap();
    // Some shipped before the stop...
    for i in 0..2_000 {
        log_one(&logger, i);
    }
    wait_until("the first rows", LONG, || cluster.count("audit") > 0);
    cluster.stop();
    // ... more while the database is down (these cannot be in it yet) ...
    for i in 2_000..4_000 {
        log_one(&logger, i);
    }
    wait_until("the shipper to notice", LONG, || {
        let s = logger.stats().shipping.unwrap();
        s.failures > 0 && !s.connected
    });
    let during = logger.stats().shipping.unwrap();
    assert!(during.lag_events > 0, "{during:?}");
    assert!(during.last_error.is_some(), "{during:?}");
    assert!(
        !during
            .last_error
            .as_ref()
            .unwrap()
            .message
            .contains(PASSWORD),
        "{during:?}"
    );
    std::thread::sleep(Duration::from_secs(5));
    cluster.restart();
    // ... and more after.
    for i in 4_000..5_000 {
        log_one(&logger, i);
    }
    logger.flush().unwrap();
    assert_eq!(cluster.count("audit"), 5_000);
    assert_eq!(db_events(&url, None), file_events(dir.path()));
    let after = logger.stats().shipping.unwrap();
    assert_eq!(
        (after.lag_events, after.shipped_seq),
        (0, 5_000),
        "{after:?}"
    );
}

#[test]
fn shipper_killed_mid_batch_and_restarted_ships_exactly_once() {
    let cluster = Cluster::start();
    let url = cluster.url("audit");
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .build()
        .unwrap();
    const TOTAL: u64 = 30_000;
    for i in 0..10_000 {
        log_one(&logger, i);
    }
    // A writer keeps logging while shippers are killed, so there is always more to ship.
    let written = Arc::new(AtomicU64::new(10_000));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (logger, written, done) = (logger.clone(), written.clone(), done.clone());
        std::thread::spawn(move || {
            for i in 10_000..TOTAL {
                log_one(&logger, i);
                written.store(i + 1, Ordering::SeqCst);
                if i % 500 == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let ship = |follow: bool| {
        let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("auditlog"));
        cmd.arg("ship").arg(dir.path()).args([
            "--db",
            &url,
            "--batch-size",
            "100",
            "--host",
            "killed",
        ]);
        if follow {
            cmd.arg("--follow");
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    };
    let mut kills = 0;
    let mut last = 0;
    for round in 0..3 {
        let mut child = ship(true).spawn().unwrap();
        // Kill it once it has shipped more than before: in the middle of its work.
        wait_until("rows from this shipper", LONG, || {
            cluster.count("audit") > last + if round == 0 { 0 } else { 100 }
        });
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().unwrap();
        kills += 1;
        last = cluster.count("audit");
    }
    writer.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(kills, 3);
    let status = ship(false).status().unwrap();
    assert!(status.success());
    assert_eq!(cluster.count("audit"), TOTAL);
    assert_eq!(db_events(&url, Some("killed")), file_events(dir.path()));
    // Shipping again sends nothing new.
    let status = ship(false).status().unwrap();
    assert!(status.success());
    assert_eq!(cluster.count("audit"), TOTAL);
}

#[test]
fn bad_urls_refused_logins_and_missing_tables_are_clear_errors() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .build()
        .unwrap();
    log_one(&logger, 0);

    let fails = |args: &[&str], wanted: &[&str]| {
        let out = auditlog().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for w in wanted {
            assert!(stderr.contains(w), "{args:?}: {stderr:?} lacks {w:?}");
        }
        assert!(!stderr.contains(PASSWORD), "{args:?}: {stderr}");
        stderr
    };
    let path = dir.path().to_str().unwrap();

    // Nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = format!("postgres://audit:{PASSWORD}@127.0.0.1:{port}/audit");
    let shown = format!("postgres://audit@127.0.0.1:{port}/audit");
    fails(
        &["ship", path, "--db", &nowhere],
        &["cannot connect to", &shown],
    );
    fails(&["query", "--db", &nowhere], &["cannot connect to", &shown]);

    // Not a URL at all.
    fails(
        &[
            "ship",
            path,
            "--db",
            &format!("postgres://audit:{PASSWORD}@[::1/x"),
        ],
        &["cannot parse the PostgreSQL URL", "postgres://audit@[::1/x"],
    );

    // The wrong password.
    let wrong = format!(
        "postgres://audit:not-{PASSWORD}@127.0.0.1:{}/audit",
        cluster.port
    );
    let shown = format!("postgres://audit@127.0.0.1:{}/audit", cluster.port);
    fails(
        &["ship", path, "--db", &wrong],
        &[
            "cannot connect to",
            &shown,
            "password authentication failed",
        ],
    );
    fails(
        &["summary", "--db", &wrong],
        &["password authentication failed"],
    );

    // A database nothing was shipped to.
    cluster.psql("postgres", "CREATE DATABASE empty");
    let empty = cluster.url("empty");
    let shown = format!("postgres://audit@127.0.0.1:{}/empty", cluster.port);
    for command in ["query", "summary"] {
        fails(
            &[command, "--db", &empty],
            &["no audit_events table", &shown],
        );
    }
    fails(
        &["export", "--db", &empty, "--to", "jsonl"],
        &["no audit_events table"],
    );

    // In-process: a URL that does not parse is the builder's error; one that points
    // nowhere is not (the database may come later), it shows in the stats.
    let err = AuditLogger::builder(dir.path().join("b"))
        .format(Format::Json)
        .ship_to_postgres(format!("postgres://audit:{PASSWORD}@[::1/x"))
        .build()
        .unwrap_err();
    assert!(!err.full_message().contains(PASSWORD), "{err:?}");
    let logger = AuditLogger::builder(dir.path().join("c"))
        .format(Format::Json)
        .ship_to_postgres(
            ShipConfig::new(nowhere.clone()).flush_timeout(Duration::from_millis(300)),
        )
        .build()
        .unwrap();
    log_one(&logger, 1);
    let err = logger.flush().unwrap_err();
    let message = err.full_message();
    assert!(
        message.contains("127.0.0.1") && !message.contains(PASSWORD),
        "{message}"
    );
    assert!(
        message.contains("1 events are not shipped yet"),
        "{message}"
    );
}

/// The same query on the files and on the database, as parsed JSON lines.
fn jsonl(args: &[&str]) -> Vec<Value> {
    let out = auditlog().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn query_on_the_database_returns_what_query_on_the_files_returns() {
    let cluster = Cluster::start();
    let url = cluster.url("audit");
    let dir = tempfile::tempdir().unwrap();
    {
        let logger = AuditLogger::builder(dir.path())
            .format(Format::Csv)
            .build()
            .unwrap();
        for i in 0..400 {
            log_one(&logger, i);
        }
        logger
            .log_event(
                "query_execute",
                Status::Failed,
                json!({"actor": {"name": "carol", "peer": "10.0.0.7"}, "q": "=1+1"}),
                Some("Invalid query syntax"),
            )
            .unwrap();
    }
    let path = dir.path().to_str().unwrap();
    auditlog()
        .args(["ship", path, "--db", &url, "--host", "h1"])
        .assert()
        .success();
    // Without its cursor, a shipper sends everything again: the same keys (the log's id
    // comes from the log), so nothing new, and each re-sent row is checked against the one
    // there.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .contains(".shipped-")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    auditlog()
        .args(["ship", path, "--db", &url, "--host", "h1"])
        .assert()
        .success()
        .stderr(predicates::str::contains("sent 401 now, 0 of them new"));
    assert_eq!(cluster.count("audit"), 401);
    // A database that lost rows the cursor says were shipped (restored from a backup): the
    // shipper notices and ships the log again from its start.
    cluster.psql("audit", "DELETE FROM audit_events WHERE seq > 200");
    auditlog()
        .args(["ship", path, "--db", &url, "--host", "h1"])
        .assert()
        .success()
        .stderr(predicates::str::contains("sent 401 now, 201 of them new"));
    assert_eq!(cluster.count("audit"), 401);
    let filters: &[&[&str]] = &[
        &[],
        &["--status", "failed"],
        &["--action", "tag_add", "--action", "pause"],
        &["--actor", "alice"],
        &["--actor", "carol"],
        &["--contains", "req-1"],
        &["--request", "req-1"],
        &["--oldest-first", "--limit", "7"],
        &["--limit", "5", "--action", "pause"],
        &[
            "--since",
            "2000-01-01",
            "--until",
            "2100-01-01",
            "--status",
            "success",
        ],
    ];
    for filter in filters {
        let mut on_file = vec!["query", path, "--output", "jsonl"];
        on_file.extend_from_slice(filter);
        let mut on_db = vec!["query", "--db", &url, "--output", "jsonl"];
        on_db.extend_from_slice(filter);
        let expected = jsonl(&on_file);
        assert!(!expected.is_empty(), "{filter:?}");
        assert_eq!(jsonl(&on_db), expected, "{filter:?}");
        let mut by_host = on_db.clone();
        by_host.extend_from_slice(&["--host", "h1"]);
        assert_eq!(jsonl(&by_host), expected, "{filter:?} --host");
        let mut other_host = on_db.clone();
        other_host.extend_from_slice(&["--host", "elsewhere"]);
        assert!(jsonl(&other_host).is_empty(), "{filter:?}");
    }
    // The summary and the exports agree too.
    let summary = |args: &[&str]| {
        let out = auditlog().args(args).output().unwrap();
        assert!(out.status.success());
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(
        summary(&["summary", "--db", &url, "--json"]),
        summary(&["summary", path, "--json"])
    );
    let experiment = dir
        .path()
        .canonicalize()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        jsonl(&[
            "export",
            "--db",
            &url,
            "--to",
            "jsonl",
            "--experiment",
            &experiment
        ]),
        jsonl(&["export", path, "--to", "jsonl"])
    );
    let table = auditlog().args(["summary", "--db", &url]).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("postgresql") && table.contains("carol"),
        "{table}"
    );
}

#[test]
fn logs_written_by_the_python_reference_ship_too() {
    let cluster = Cluster::start();
    let url = cluster.url("audit");
    let dir = tempfile::tempdir().unwrap();
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../audit-runtime/tests/fixtures/reference");
    for (name, target) in [
        ("audit_log.indent2.json", "json/audit_log.json"),
        ("audit_log.reference.csv", "csv/audit_log.csv"),
    ] {
        let target = dir.path().join(target);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(fixtures.join(name), &target).unwrap();
        auditlog()
            .args([
                "ship",
                target.to_str().unwrap(),
                "--db",
                &url,
                "--host",
                name,
            ])
            .assert()
            .success();
        let from_file = file_events(target.parent().unwrap());
        assert!(!from_file.is_empty());
        assert_eq!(db_events(&url, Some(name)), from_file, "{name}");
    }
    // The reference appends to its JSON by rewriting it whole: a new event at the front.
    let json = dir.path().join("json/audit_log.json");
    let mut events: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    events.insert(
        0,
        json!({"timestamp": "2030-01-01T00:00:00.000001Z", "action_type": "pause",
               "status": "success", "details": {}, "error": null}),
    );
    std::fs::write(&json, serde_json::to_string_pretty(&events).unwrap()).unwrap();
    auditlog()
        .args([
            "ship",
            json.to_str().unwrap(),
            "--db",
            &url,
            "--host",
            "audit_log.indent2.json",
        ])
        .assert()
        .success();
    let shipped = db_events(&url, Some("audit_log.indent2.json"));
    assert_eq!(shipped.len(), events.len());
    assert_eq!(shipped.last().unwrap().action_type, "pause");
}

#[test]
fn a_rotated_log_is_finished_then_the_new_one_ships_under_a_new_id() {
    let cluster = Cluster::start();
    let url = cluster.url("audit");
    let root = tempfile::tempdir().unwrap();
    for (format, name) in [
        (Format::Json, "audit_log.json"),
        (Format::Csv, "audit_log.csv"),
    ] {
        let dir = root.path().join(name);
        let logger = AuditLogger::builder(&dir)
            .format(format)
            .ship_to_postgres(ShipConfig::new(url.clone()).host(name).flush_timeout(LONG))
            .build()
            .unwrap();
        for i in 0..100 {
            log_one(&logger, i);
        }
        logger.flush().unwrap();
        // Logged after the last flush, then the file is rotated (logrotate, `mv`): these are
        // only in the rotated file, which the shipper still has open.
        for i in 100..130 {
            log_one(&logger, i);
        }
        std::fs::rename(dir.join(name), dir.join(format!("{name}.1"))).unwrap();
        for i in 130..180 {
            log_one(&logger, i);
        }
        logger.flush().unwrap();
        let rows = cluster.psql(
            "audit",
            &format!(
                "SELECT count(*), max(seq) FROM audit_events WHERE host = '{name}' \
                 GROUP BY log_id ORDER BY 1 DESC"
            ),
        );
        assert_eq!(rows, "130|130\n50|50", "{name}");
        let mut expected = file_events_of(&dir.join(format!("{name}.1")));
        expected.extend(file_events_of(&dir.join(name)));
        let mut shipped = db_events(&url, Some(name));
        shipped.sort_by_key(|e| e.timestamp);
        assert_eq!(shipped, expected, "{name}");
    }
}

/// The events of the log file at `path`, oldest first.
fn file_events_of(path: &Path) -> Vec<AuditEvent> {
    let format = audit_runtime::read::detect(path).unwrap();
    let mut events: Vec<AuditEvent> = audit_runtime::read::open_events_as(path, format)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    if format == Format::Json {
        events.reverse();
    }
    events
}
