"""``python -m audited``: the auditlog command line, for people without a Rust toolchain."""

import json
import subprocess
import sys

from audited import AuditLogger


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "audited", *map(str, args)], capture_output=True, text=True
    )


def make_log(root):
    logger = AuditLogger(root, format="json")
    logger.log_event("hp_change", "success", {"learning_rate": 0.001})
    logger.log_event("checkpoint_restore", "failed", {"checkpoint_id": "c1"}, error="missing")
    return logger


def test_summary_of_a_directory(tmp_path):
    make_log(tmp_path)
    result = cli("summary", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "events:    2" in result.stdout
    assert "checkpoint_restore" in result.stdout


def test_summary_json_is_the_specs_dict(tmp_path):
    logger = make_log(tmp_path)
    result = cli("summary", tmp_path / "audit_log.json", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == logger.get_log_summary()


def test_query_and_verify(tmp_path):
    make_log(tmp_path)
    failed = cli("query", tmp_path, "--status", "failed", "--output", "jsonl")
    assert failed.returncode == 0, failed.stderr
    [event] = [json.loads(line) for line in failed.stdout.splitlines()]
    assert event["error"] == "missing"
    verify = cli("verify", tmp_path)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("ok: ")


def test_usage_errors_and_missing_logs_exit_2(tmp_path):
    assert cli("no-such-command").returncode == 2
    missing = cli("summary", tmp_path / "nothing-here")
    assert missing.returncode == 2
    assert "nothing-here" in missing.stderr
    helped = cli("--help")
    assert helped.returncode == 0 and "summary" in helped.stdout
