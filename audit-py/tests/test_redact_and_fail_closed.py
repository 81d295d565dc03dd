"""``@audited(redact=..., fail_closed=...)``: the Rust attribute's ``redact(..)``,
``redact(.., hmac)`` and ``fail_closed``, with the same semantics: redacted keys at any
depth, keyed hashes a holder of the log's key file can recompute, and a call refused before
its body runs while the log cannot take events."""

import asyncio
import hashlib
import hmac
import shutil

import pytest

import audited
from audited import AuditUnavailableError, audited as audit

from conftest import load_json


def events(logger):
    return load_json(logger.json_path)


def keyed_hash(logger, value):
    key = (logger.root_log_dir / "audit_log.hmac-key").read_text().strip()
    digest = hmac.new(bytes.fromhex(key), value.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest}"


def test_redact_writes_the_listed_keys_as_redacted_at_any_depth(global_logger):
    @audit(
        action="hp_change",
        details=lambda user, note: {"user": user, "note": note, "nested": {"note": note}},
        redact=["note"],
    )
    def set_note(user, note):
        return note

    assert set_note("alice", "private") == "private"
    [event] = events(global_logger)
    assert event["details"] == {
        "user": "alice",
        "note": "[REDACTED]",
        "nested": {"note": "[REDACTED]"},
    }
    assert "private" not in global_logger.json_path.read_text()
    assert global_logger.stats()["redactions"] == 1


def test_redact_hmac_writes_the_keyed_hash_and_the_default_list_still_applies(global_logger):
    @audit(
        action="hp_change",
        details=lambda user, password, lr: {"user": user, "password": password, "lr": lr},
        redact={"user": "hmac"},
    )
    def set_lr(user, password, lr):
        pass

    set_lr("alice", "hunter2", 0.1)
    set_lr("alice", "x", 0.2)
    expected = keyed_hash(global_logger, "alice")
    for event in events(global_logger):
        assert event["details"]["user"] == expected, "same value, same hash"
        assert event["details"]["password"] == "[REDACTED]", "the default list"
        assert isinstance(event["details"]["lr"], float)
    text = global_logger.json_path.read_text()
    assert "alice" not in text and "hunter2" not in text


def test_redact_accepts_one_key_and_refuses_what_it_cannot_mean():
    audit(action="pause", redact="token")
    with pytest.raises(TypeError, match="non-empty str"):
        audit(action="pause", redact=[1])
    with pytest.raises(ValueError, match='"redact"'):
        audit(action="pause", redact={"user": "sha1"})
    with pytest.raises(TypeError, match="redact= takes"):
        audit(action="pause", redact=3)
    with pytest.raises(TypeError, match="fail_closed= must be a bool"):
        audit(action="pause", fail_closed="yes")


def test_redact_applies_to_calls_made_before_init(tmp_path):
    audited.shutdown()

    @audit(action="hp_change", details=lambda note, user: {"note": note, "user": user},
           redact={"note": "redact", "user": "hmac"})
    def set_note(note, user):
        pass

    set_note("private", "alice")
    logger = audited.AuditLogger(tmp_path / "later", "redact", format="json")
    audited.init(logger)
    try:
        [event] = events(logger)
        # No key exists before a logger does: a hashed key is redacted, as in Rust.
        assert event["details"] == {"note": "[REDACTED]", "user": "[REDACTED]"}
    finally:
        audited.shutdown()


def test_fail_closed_refuses_before_the_body_runs_and_resumes_with_the_outage(global_logger):
    ran = []
    seen = []

    @audit(action="checkpoint_restore", details=lambda ckpt: seen.append(ckpt) or {"ckpt": ckpt},
           fail_closed=True)
    def restore(ckpt):
        ran.append(ckpt)
        return ckpt

    assert restore("c1") == "c1"
    log_dir = global_logger.root_log_dir
    # The log's directory replaced by a file: the logger cannot make it again.
    shutil.rmtree(log_dir)
    log_dir.write_text("not a directory")
    for n in range(3):
        with pytest.raises(AuditUnavailableError) as refused:
            restore(f"c-refused-{n}")
        assert refused.value.ran is False
        assert "not a directory" in refused.value.reason
        assert "audit log" in str(refused.value)
        assert isinstance(refused.value, RuntimeError)
    assert ran == ["c1"], "no body ran unrecorded"
    assert seen == ["c1"], "nor its details= callable"
    assert global_logger.stats()["events_refused"] == 3

    log_dir.unlink()
    log_dir.mkdir()
    assert restore("c2") == "c2"
    [event] = events(global_logger)  # the log was removed with its first event
    assert event["details"]["ckpt"] == "c2"
    assert event["details"]["_audit"]["outage"]["refused"] == 3


def test_without_fail_closed_the_call_goes_ahead(global_logger):
    ran = []

    @audit(action="pause")
    def pause():
        ran.append(1)

    shutil.rmtree(global_logger.root_log_dir)
    pause()
    assert ran == [1]
    assert global_logger.stats()["events_refused"] == 0
    assert len(events(global_logger)) == 1, "fail-open: the directory is made again"


def test_fail_closed_a_call_whose_event_cannot_be_written_raises_instead_of_returning(
    global_logger,
):
    log_dir = global_logger.root_log_dir

    @audit(action="resume", fail_closed=True)
    def resume_and_break_the_log():
        # The log's directory replaced by a file: the event has nowhere to go.
        shutil.rmtree(log_dir)
        log_dir.write_text("not a directory")
        return 7

    with pytest.raises(AuditUnavailableError) as unrecorded:
        resume_and_break_the_log()
    assert unrecorded.value.ran is True
    assert str(unrecorded.value).startswith("the call ran, but"), str(unrecorded.value)
    assert unrecorded.value.log == str(global_logger.json_path)
    assert global_logger.stats()["events_failed"] == 1


def test_fail_closed_async(global_logger):
    ran = []

    @audit(action="evaluation_start", fail_closed=True)
    async def evaluate(split):
        ran.append(split)

    asyncio.run(evaluate("val"))
    shutil.rmtree(global_logger.root_log_dir)
    global_logger.root_log_dir.write_text("")
    with pytest.raises(AuditUnavailableError) as refused:
        asyncio.run(evaluate("test"))
    assert refused.value.ran is False
    assert ran == ["val"]
