"""What the spec's own test list names ("Event creation and serialization, JSON and CSV file
writing, thread-safe concurrent logging, error handling and edge cases, complex nested data
structures, real-world usage scenarios", "concurrent logging with 10+ threads", "special
characters and Unicode", "empty details, missing files"), through the package."""

import csv
import dataclasses
import json
import logging
import threading
from pathlib import Path

import pytest

from audited import AuditEvent, AuditLogger

from conftest import load_json


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- the logger's attributes and the event type -------------------------------------------


def test_constructor_and_attributes_are_the_specs(tmp_path):
    logger = AuditLogger(root_log_dir=str(tmp_path), experiment_name="my_experiment")
    assert isinstance(logger.root_log_dir, Path)
    assert logger.root_log_dir == tmp_path
    assert logger.experiment_name == "my_experiment"
    assert logger.format == "json"
    assert logger.json_path == tmp_path / "audit_log.json"
    assert logger.csv_path == tmp_path / "audit_log.csv"
    assert AuditLogger(tmp_path).experiment_name == "default"
    assert AuditLogger(tmp_path / "p", format="csv").format == "csv"


def test_audit_event_is_a_dataclass_with_the_five_fields():
    event = AuditEvent(
        timestamp="2026-05-27T14:30:00.123456Z",
        action_type="hp_change",
        status="success",
        details={"learning_rate": 0.001},
    )
    assert dataclasses.is_dataclass(event)
    assert [f.name for f in dataclasses.fields(AuditEvent)] == [
        "timestamp",
        "action_type",
        "status",
        "details",
        "error",
    ]
    assert event.error is None
    assert event.to_dict() == dataclasses.asdict(event)
    assert json.loads(json.dumps(event.to_dict()))["details"] == {"learning_rate": 0.001}
    assert AuditEvent("t", "pause", "success").details == {}


def test_events_read_back_are_audit_events(tmp_path):
    logger = AuditLogger(tmp_path)
    logger.log_event("pause", "success")
    [event] = logger.read_events()
    assert isinstance(event, AuditEvent)
    assert (event.action_type, event.status, event.details, event.error) == (
        "pause",
        "success",
        {},
        None,
    )


# --- JSON ------------------------------------------------------------------------------------


def test_json_file_is_an_array_newest_first_with_the_five_fields(tmp_path):
    logger = AuditLogger(tmp_path, "exp")
    logger.log_event("hp_change", "success", {"learning_rate": 0.001, "batch_size": 32})
    logger.log_event(
        "checkpoint_restore",
        "failed",
        {"checkpoint_id": "ckpt_001"},
        error="Checkpoint file not found",
    )
    logger.log_event("pause", "success")
    events = load_json(tmp_path / "audit_log.json")
    assert [e["action_type"] for e in events] == ["pause", "checkpoint_restore", "hp_change"]
    for event in events:
        assert list(event) == ["timestamp", "action_type", "status", "details", "error"]
    assert events[1]["status"] == "failed"
    assert events[1]["error"] == "Checkpoint file not found"
    assert events[0]["details"] == {} and events[0]["error"] is None
    assert events[2]["details"] == {"learning_rate": 0.001, "batch_size": 32}
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == 3
    for stamp in stamps:  # ISO 8601, UTC, six fractional digits
        assert len(stamp) == 27 and stamp[10] == "T" and stamp[19] == "." and stamp.endswith("Z")
    assert not (tmp_path / "audit_log.csv").exists(), "only the chosen format's file"


def test_empty_and_none_details_are_an_empty_object(tmp_path):
    logger = AuditLogger(tmp_path)
    logger.log_event("resume", "success", None)
    logger.log_event("pause", "success", {})
    assert [e["details"] for e in load_json(logger.json_path)] == [{}, {}]


def test_nested_special_character_and_unicode_details(tmp_path):
    details = {
        "nested": {"a": {"b": {"c": [1, 2, {"d": None, "e": True, "f": 1.5}]}}},
        "quotes": 'say "hi", it\'s',
        "newlines": "line1\nline2\r\nline3\ttab",
        "backslash": "C:\\path\\to",
        "unicode": "ünïcödé ✓ 日本語 🎉",
        "control": "\x00\x1f",
        "empty": "",
        "ids": ["s1", "s2", "s3"],
        "origins": ("train", "val"),
    }
    for fmt in ("json", "csv"):
        logger = AuditLogger(tmp_path / fmt, format=fmt)
        logger.log_event("tag_add", "success", details, error='bad "thing",\nhappened — ✗')
        if fmt == "json":
            [event] = load_json(logger.json_path)
            got, error = event["details"], event["error"]
        else:
            [row] = read_csv(logger.csv_path)
            got, error = json.loads(row["details"]), row["error"]
        expected = dict(details, origins=["train", "val"])
        assert got == expected, fmt
        assert error == 'bad "thing",\nhappened — ✗', fmt


# --- CSV -------------------------------------------------------------------------------------


def test_csv_has_the_header_and_one_row_per_event_oldest_first(tmp_path):
    logger = AuditLogger(tmp_path, format="csv")
    logger.log_event("hp_change", "success", {"changed_params": {"learning_rate": 0.001}})
    logger.log_event(
        "query_execute",
        "failed",
        {"query_type": "natural_language", "query_text": 'a, "b"\nc'},
        error="Invalid query syntax: unexpected token",
    )
    text = (tmp_path / "audit_log.csv").read_bytes()
    assert text.startswith(b"timestamp,action_type,status,details,error\r\n")
    rows = read_csv(tmp_path / "audit_log.csv")
    assert [r["action_type"] for r in rows] == ["hp_change", "query_execute"]
    assert json.loads(rows[0]["details"]) == {"changed_params": {"learning_rate": 0.001}}
    assert rows[0]["error"] == ""
    assert json.loads(rows[1]["details"])["query_text"] == 'a, "b"\nc'
    assert rows[1]["error"] == "Invalid query syntax: unexpected token"
    assert not (tmp_path / "audit_log.json").exists()


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(tmp_path):
    logger = AuditLogger(tmp_path, format="csv")
    logger.log_event("tag_add", "failed", {"tag_name": "=HYPERLINK(1)"}, error="=1+1")
    [row] = read_csv(tmp_path / "audit_log.csv")
    assert row["error"] == "'=1+1"  # shown as text, not run
    assert json.loads(row["details"]) == {"tag_name": "=HYPERLINK(1)"}  # details start with {
    [event] = logger.read_events()
    assert event.error == "=1+1", "our reader gives back what was logged"


# --- format selection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env, explicit, expected",
    [
        (None, None, "json"),
        ("json", None, "json"),
        ("csv", None, "csv"),
        (" CSV ", None, "csv"),
        ("none", None, "none"),
        ("NONE", None, "none"),
        ("csv", "json", "json"),
        ("none", "csv", "csv"),
        ("json", "none", "none"),
        ("", None, "json"),
    ],
)
def test_format_precedence_explicit_then_environment_then_json(
    tmp_path, monkeypatch, env, explicit, expected
):
    if env is not None:
        monkeypatch.setenv("AUDIT_LOG_FORMAT", env)
    logger = AuditLogger(tmp_path / "logs", format=explicit)
    assert logger.format == expected
    logger.log_event("pause", "success")
    created = sorted(p.name for p in (tmp_path / "logs").iterdir()) if expected != "none" else []
    files = {"json": ["audit_log.json"], "csv": ["audit_log.csv"], "none": []}[expected]
    assert [n for n in created if not n.startswith(".")] == files


def test_none_creates_nothing_and_logging_returns_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_LOG_FORMAT", "none")
    logger = AuditLogger(tmp_path / "never" / "created")
    for _ in range(100):
        logger.log_event("hp_change", "success", {"lr": 0.1})
    assert not (tmp_path / "never").exists()
    assert logger.path is None
    assert logger.get_log_summary() == {"total_events": 0, "by_action_type": {}, "by_status": {}}
    assert logger.read_events() == []


@pytest.mark.parametrize("where", ["argument", "environment"])
def test_an_invalid_format_falls_back_to_json_with_a_warning(
    tmp_path, monkeypatch, caplog, where
):
    caplog.set_level(logging.WARNING, logger="audited")
    if where == "argument":
        logger = AuditLogger(tmp_path, format="xml")
    else:
        monkeypatch.setenv("AUDIT_LOG_FORMAT", "jsno")
        logger = AuditLogger(tmp_path)
    assert logger.format == "json"
    logger.log_event("pause", "success")
    assert load_json(tmp_path / "audit_log.json")[0]["action_type"] == "pause"
    [record] = [r for r in caplog.records if r.name == "audited"]
    assert record.levelno == logging.WARNING
    assert ("xml" if where == "argument" else "jsno") in record.getMessage()
    assert "writing json" in record.getMessage()


# --- directories, restarts, summaries ------------------------------------------------------


def test_nested_directories_are_created(tmp_path):
    root = tmp_path / "a" / "b" / "c" / "experiment"
    logger = AuditLogger(root)
    logger.log_event("evaluation_start", "success", {"split": "val"})
    assert (root / "audit_log.json").is_file()


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_log_persists_across_restarts_and_is_continued(tmp_path, fmt):
    first = AuditLogger(tmp_path, "run", format=fmt)
    first.log_event("hp_change", "success", {"lr": 0.1})
    first.log_event("pause", "success")
    del first
    second = AuditLogger(tmp_path, "run", format=fmt)
    second.log_event("resume", "success")
    assert second.get_log_summary() == {
        "total_events": 3,
        "by_action_type": {"hp_change": 1, "pause": 1, "resume": 1},
        "by_status": {"success": 3},
    }
    actions = [e.action_type for e in second.read_events()]
    expected = ["hp_change", "pause", "resume"]
    assert actions == (expected[::-1] if fmt == "json" else expected)
    assert second.recoveries() == [], "nothing had to be repaired"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_summary_counts_by_action_type_and_status(tmp_path, fmt):
    logger = AuditLogger(tmp_path, format=fmt)
    assert logger.get_log_summary() == {"total_events": 0, "by_action_type": {}, "by_status": {}}
    for _ in range(5):
        logger.log_event("hp_change", "success", {"lr": 0.1})
    for _ in range(3):
        logger.log_event("tag_add", "success", {"tag_name": "defect"})
    logger.log_event("checkpoint_restore", "failed", {}, error="missing")
    logger.log_event("checkpoint_restore", "failed", {}, error="missing")
    summary = logger.get_log_summary()
    assert summary == {
        "total_events": 10,
        "by_action_type": {"hp_change": 5, "tag_add": 3, "checkpoint_restore": 2},
        "by_status": {"success": 8, "failed": 2},
    }
    assert set(summary) == {"total_events", "by_action_type", "by_status"}


def test_summary_of_a_log_another_instance_wrote(tmp_path):
    AuditLogger(tmp_path).log_event("pause", "success")
    assert AuditLogger(tmp_path).get_log_summary()["total_events"] == 1


# --- errors ----------------------------------------------------------------------------------


def test_status_must_be_success_failed_or_error(tmp_path):
    logger = AuditLogger(tmp_path)
    with pytest.raises(ValueError, match='invalid status "done"'):
        logger.log_event("pause", "done")
    assert logger.get_log_summary()["total_events"] == 0


def test_the_error_status_weightslab_v2_services_log_is_written(tmp_path):
    logger = AuditLogger(tmp_path)
    logger.log_event("notebook_run", "error", {"cell": 3}, "NameError: x")
    with open(logger.json_path) as f:
        (event,) = json.load(f)
    assert event["status"] == "error"
    assert event["error"] == "NameError: x"
    assert logger.get_log_summary()["by_status"] == {"error": 1}


def test_an_empty_action_type_is_refused(tmp_path):
    logger = AuditLogger(tmp_path)
    with pytest.raises(ValueError, match="action type is empty"):
        logger.log_event("  ", "success")


def test_an_error_that_is_not_a_string_is_written_as_its_text(tmp_path):
    logger = AuditLogger(tmp_path)
    logger.log_event("checkpoint_restore", "failed", error=FileNotFoundError("ckpt_001"))
    assert load_json(logger.json_path)[0]["error"] == "ckpt_001"


def test_a_directory_that_cannot_be_created_is_an_os_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OSError, match="cannot create directory"):
        AuditLogger(tmp_path / "file" / "logs")


# --- threads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_sixteen_threads_lose_nothing(tmp_path, fmt):
    logger = AuditLogger(tmp_path, format=fmt)
    threads_n, per_thread = 16, 200
    start = threading.Barrier(threads_n)

    def work(t):
        start.wait()
        for i in range(per_thread):
            logger.log_event("tag_add", "success", {"thread": t, "i": i, "pad": "x" * (i % 50)})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if fmt == "json":
        events = load_json(logger.json_path)
        details = [e["details"] for e in events]
        stamps = [e["timestamp"] for e in events]
        assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == len(stamps)
    else:
        details = [json.loads(r["details"]) for r in read_csv(logger.csv_path)]
    seen = sorted((d["thread"], d["i"]) for d in details)
    assert seen == [(t, i) for t in range(threads_n) for i in range(per_thread)]
