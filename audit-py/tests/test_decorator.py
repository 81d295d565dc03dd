"""``@audited`` for Python handlers: one event per call, success or failed with the
exception's message, ``details=``, ``capture=`` with before/after/changed, async, methods,
and the action name checked against the Rust attribute's catalog when it is applied."""

import asyncio
import logging

import pytest

import audited
from audited import AuditLogger, UnknownActionError, audited as audit

from conftest import load_json


def events(logger):
    return load_json(logger.json_path)


def test_a_successful_call_logs_success_with_its_details(global_logger):
    @audit(action="tag_add", details=lambda tag, ids: {"tag_name": tag, "sample_ids": ids})
    def add_tag(tag, ids):
        return len(ids)

    assert add_tag("defect", ["s1", "s2"]) == 2
    [event] = events(global_logger)
    assert event["action_type"] == "tag_add"
    assert event["status"] == "success"
    assert event["details"] == {"tag_name": "defect", "sample_ids": ["s1", "s2"]}
    assert event["error"] is None
    assert add_tag.__name__ == "add_tag" and add_tag.__audited_action__ == "tag_add"


def test_an_exception_is_logged_as_failed_with_its_message_and_re_raised(global_logger):
    class CheckpointMissing(Exception):
        pass

    @audit(action="checkpoint_restore", details=lambda ckpt: {"checkpoint_id": ckpt})
    def restore(ckpt):
        raise CheckpointMissing(f"Checkpoint file not found: {ckpt}")

    with pytest.raises(CheckpointMissing) as info:
        restore("ckpt_001")
    assert info.value.__traceback__ is not None
    [event] = events(global_logger)
    assert event["status"] == "failed"
    assert event["error"] == "Checkpoint file not found: ckpt_001"
    assert event["details"] == {"checkpoint_id": "ckpt_001"}


def test_an_exception_without_a_message_is_named_by_its_type(global_logger):
    @audit(action="pause")
    def pause():
        raise KeyError

    with pytest.raises(KeyError):
        pause()
    assert events(global_logger)[0]["error"] == "KeyError"


class Trainer:
    def __init__(self):
        self.hp = {"learning_rate": 0.1, "batch_size": 32}

    @audit(action="hp_change", capture=lambda self, **_: self.hp, details=lambda self, **kw: kw)
    def set_hp(self, **changes):
        for key, value in changes.items():
            if value is None:
                raise ValueError(f"{key} must not be None")
            self.hp[key] = value  # in place: capture must have copied "before"


def test_capture_records_before_after_and_the_changed_keys(global_logger):
    trainer = Trainer()
    trainer.set_hp(learning_rate=0.01)
    [event] = events(global_logger)
    assert event["details"] == {
        "learning_rate": 0.01,
        "before": {"learning_rate": 0.1, "batch_size": 32},
        "after": {"learning_rate": 0.01, "batch_size": 32},
        "changed": {"learning_rate": {"before": 0.1, "after": 0.01}},
    }
    assert list(event["details"]) == ["learning_rate", "before", "after", "changed"]


def test_capture_after_a_failure_shows_what_changed_before_it(global_logger):
    trainer = Trainer()
    with pytest.raises(ValueError):
        trainer.set_hp(batch_size=64, learning_rate=None)
    [event] = events(global_logger)
    assert event["status"] == "failed"
    assert event["error"] == "learning_rate must not be None"
    assert event["details"]["changed"] == {"batch_size": {"before": 32, "after": 64}}


def test_capture_of_values_that_are_not_dicts_has_no_changed(global_logger):
    state = {"step": 1}

    @audit(action="resume", capture=lambda: state["step"])
    def step():
        state["step"] += 1

    step()
    assert events(global_logger)[0]["details"] == {"before": 1, "after": 2}


def test_async_functions_are_logged_when_they_finish(global_logger):
    @audit(action="evaluation_start", details=lambda split: {"split": split})
    async def evaluate(split):
        await asyncio.sleep(0)
        if not split:
            raise ValueError("empty split")
        return "started"

    async def capture_state():
        await asyncio.sleep(0)
        return {"running": True}

    @audit(action="pause", capture=capture_state)
    async def pause():
        await asyncio.sleep(0)

    assert asyncio.run(evaluate("val")) == "started"
    with pytest.raises(ValueError):
        asyncio.run(evaluate(""))
    asyncio.run(pause())
    pause_event, failed, ok = events(global_logger)
    assert (ok["status"], ok["details"]) == ("success", {"split": "val"})
    assert (failed["status"], failed["error"]) == ("failed", "empty split")
    assert pause_event["details"] == {
        "before": {"running": True},
        "after": {"running": True},
        "changed": {},
    }


def test_a_cancelled_coroutine_is_logged_as_cancelled(global_logger):
    started = asyncio.Event

    @audit(action="evaluation_start")
    async def evaluate(ready):
        ready.set()
        await asyncio.Event().wait()  # forever, until cancelled

    async def main():
        ready = started()
        task = asyncio.ensure_future(evaluate(ready))
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    [event] = events(global_logger)
    assert (event["status"], event["error"]) == ("failed", "cancelled")


def test_methods_static_and_class_methods(global_logger):
    class Service:
        @audit(action="mode_switch", details=lambda self, mode: {"to_mode": mode})
        def switch(self, mode):
            return mode

        @staticmethod
        @audit(action="note_write")
        def note(text):
            return text

        @audit(action="sample_discard")
        @classmethod
        def discard(cls, ids):
            return cls.__name__

    assert Service().switch("eval") == "eval"
    assert Service.note("hi") == "hi"
    assert Service.discard([1]) == "Service"
    actions = [e["action_type"] for e in events(global_logger)]
    assert actions == ["sample_discard", "note_write", "mode_switch"]


def test_an_unknown_action_fails_when_the_decorator_is_applied_with_a_suggestion():
    with pytest.raises(UnknownActionError) as info:

        @audit(action="tag_ad")
        def add_tag():
            pass

    message = str(info.value)
    assert message.startswith('unknown audit action "tag_ad"; did you mean "tag_add"?')
    assert "register_actions" in message
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownActionError, match='^unknown audit action "zzz"\n'):
        audit(action="zzz")


def test_the_catalog_is_the_rust_attributes():
    assert audited.BUILTIN_ACTIONS[:12] == [
        "hp_change",
        "pause",
        "resume",
        "mode_switch",
        "tag_add",
        "tag_remove",
        "sample_discard",
        "sample_restore",
        "query_execute",
        "checkpoint_restore",
        "evaluation_start",
        "note_write",
    ]
    assert len(audited.BUILTIN_ACTIONS) == 20
    assert "notebook_generate_code" in audited.known_actions()


def test_registered_actions_are_accepted_and_suggested(global_logger):
    with pytest.raises(UnknownActionError):
        audit(action="dataset_swap")
    audited.register_actions(["dataset_swap", "retrain"])
    audited.register_actions("retrain")  # again: nothing changes
    assert audited.known_actions()[-2:] == ("dataset_swap", "retrain")
    with pytest.raises(UnknownActionError, match='did you mean "dataset_swap"'):
        audit(action="dataset_swp")

    @audit(action="dataset_swap")
    def swap():
        pass

    swap()
    assert events(global_logger)[0]["action_type"] == "dataset_swap"
    with pytest.raises(ValueError):
        audited.register_actions([" spaced "])


def test_details_are_recorded_as_they_were_before_the_body(global_logger):
    @audit(action="sample_discard", details=lambda ids: {"sample_ids": ids})
    def discard(ids):
        ids.clear()  # the body consumes its argument

    discard(["s1", "s2"])
    assert events(global_logger)[0]["details"] == {"sample_ids": ["s1", "s2"]}


def test_an_exception_in_details_fails_the_call_before_the_body_runs(global_logger):
    ran = []

    @audit(action="tag_add", details=lambda ids: {"n": len(ids)})
    def add(ids):
        ran.append(ids)

    with pytest.raises(TypeError):
        add(None)
    assert ran == []
    [event] = events(global_logger)
    assert event["status"] == "failed"
    assert event["error"].startswith("audited: details/capture raised TypeError:")


def test_an_unserialisable_detail_is_described_and_the_call_goes_on(global_logger, caplog):
    caplog.set_level(logging.WARNING, logger="audited")

    @audit(action="tag_add", details=lambda ids: {"ids": ids})
    def add(ids):
        return "done"

    assert add({1, 2}) == "done"
    [event] = events(global_logger)
    assert event["status"] == "success"
    assert event["details"]["ids"] == "[unserializable: Object of type set is not JSON serializable]"
    assert any("could not be serialised" in r.getMessage() for r in caplog.records)


def test_generators_are_refused_when_decorated():
    with pytest.raises(TypeError, match="generator"):

        @audit(action="query_execute")
        def rows():
            yield 1


def test_with_the_none_format_the_callables_are_not_called(tmp_path):
    audited.shutdown()
    audited.init(AuditLogger(tmp_path / "off", format="none"))
    try:
        assert not audited.is_active()
        calls = []

        @audit(action="pause", details=lambda: calls.append("details"), capture=lambda: calls.append("capture"))
        def pause():
            return "paused"

        assert pause() == "paused"
        assert calls == []
        assert not (tmp_path / "off").exists()
    finally:
        audited.shutdown()


def test_calls_before_init_are_written_when_it_comes(tmp_path):
    audited.shutdown()

    @audit(action="restart_instance")
    def restart():
        pass

    restart()
    logger = AuditLogger(tmp_path, format="json")
    assert logger.get_log_summary()["total_events"] == 0
    audited.init(logger)
    try:
        assert [e["action_type"] for e in events(logger)] == ["restart_instance"]
        with pytest.raises(RuntimeError, match="switch_experiment"):
            audited.init(logger)
        other = AuditLogger(tmp_path / "next", format="json")
        audited.switch_experiment(other)
        restart()
        assert len(events(other)) == 1 and len(events(logger)) == 1
    finally:
        audited.shutdown()


def test_decorated_calls_from_many_threads(global_logger):
    import threading

    @audit(action="tag_add", details=lambda t, i: {"t": t, "i": i})
    def add(t, i):
        pass

    def work(t):
        for i in range(100):
            add(t, i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = sorted((e["details"]["t"], e["details"]["i"]) for e in events(global_logger))
    assert seen == [(t, i) for t in range(12) for i in range(100)]
