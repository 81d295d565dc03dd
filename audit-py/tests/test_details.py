"""Details: every value Python's json module writes is accepted and read back as json.load
gives it, non-finite floats are kept as the Rust runtime keeps them, and a value that is not
serialisable raises TypeError naming where it is, with nothing written."""

import collections
import enum
import json
import math

import pytest

from audited import MAX_DETAILS_DEPTH, AuditLogger

from conftest import load_json


class Color(enum.IntEnum):
    RED = 1


class Mode(str, enum.Enum):
    TRAIN = "train"


def logged(tmp_path, details, fmt="json"):
    logger = AuditLogger(tmp_path / fmt, format=fmt)
    logger.log_event("hp_change", "success", details)
    [event] = logger.read_events()
    if fmt == "json":
        assert load_json(logger.json_path)[0]["details"] == event.details, "json.load agrees"
    return event.details


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_every_json_type_round_trips(tmp_path, fmt):
    details = {
        "str": "text",
        "int": -42,
        "u64": 2**64 - 1,
        "i64_min": -(2**63),
        "float": 0.1,
        "exp": 1e-300,
        "true": True,
        "false": False,
        "none": None,
        "list": [1, "two", 3.0, [4]],
        "dict": {"k": {"k2": []}},
        "empty_dict": {},
    }
    assert logged(tmp_path, details, fmt) == details


def test_what_json_dumps_converts_is_converted_the_same_way(tmp_path):
    details = {
        "tuple": (1, 2),
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "int_enum": Color.RED,
        "str_enum": Mode.TRAIN,
        1: "int key",
        2.5: "float key",
        True: "bool key",
        None: "none key",
    }
    expected = json.loads(json.dumps(details))
    assert logged(tmp_path, details) == expected
    assert list(logged(tmp_path / "order", {"z": 1, "a": 2, "m": 3})) == ["z", "a", "m"]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_nan_and_infinities_are_written_as_the_rust_runtime_writes_them(tmp_path, fmt):
    details = {"last_loss": math.nan, "best": math.inf, "worst": -math.inf, "ok": [1.0, math.nan]}
    got = logged(tmp_path, details, fmt)
    assert got == {"last_loss": "NaN", "best": "Infinity", "worst": "-Infinity", "ok": [1.0, "NaN"]}
    path = tmp_path / fmt / ("audit_log." + fmt)
    assert "NaN" in path.read_text()
    if fmt == "json":
        # Strict parsers accept the file (the reference's bare NaN tokens they refuse).
        json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))


def test_ints_beyond_64_bits_keep_their_digits(tmp_path):
    assert logged(tmp_path, {"big": 2**80, "neg": -(2**70)}) == {
        "big": str(2**80),
        "neg": str(-(2**70)),
    }


def test_surrogates_are_read_as_json_dumps_output_would_be(tmp_path):
    assert logged(tmp_path, {"name": "file-\udcff.txt"}) == {"name": "file-\ufffd.txt"}
    assert logged(tmp_path / "pair", {"e": "\ud83d\ude00"}) == {"e": "\U0001f600"}


def test_details_that_are_not_a_dict_are_kept_under_value(tmp_path):
    assert logged(tmp_path / "a", ["s1", "s2"]) == {"value": ["s1", "s2"]}
    assert logged(tmp_path / "b", 5) == {"value": 5}


@pytest.mark.parametrize(
    "details, where, what",
    [
        ({"ids": {1, 2}}, "details['ids']", "set"),
        ({"a": {"b": [1, 2, object()]}}, "details['a']['b'][2]", "object"),
        ({"raw": b"bytes"}, "details['raw']", "bytes"),
        ({"it's": {"x": 1j}}, "details['it\\'s']['x']", "complex"),
        ([1, [2, print]], "details[1][1]", "builtin_function_or_method"),
    ],
)
def test_an_unserialisable_value_raises_type_error_naming_it_and_writes_nothing(
    tmp_path, details, where, what
):
    logger = AuditLogger(tmp_path)
    logger.log_event("pause", "success")
    with pytest.raises(TypeError) as info:
        logger.log_event("hp_change", "success", details)
    assert str(info.value) == f"{where}: Object of type {what} is not JSON serializable"
    assert [e["action_type"] for e in load_json(logger.json_path)] == ["pause"]


def test_a_key_json_refuses_raises_type_error(tmp_path):
    logger = AuditLogger(tmp_path)
    with pytest.raises(TypeError, match=r"details\['outer'\]: keys must be str, int, float"):
        logger.log_event("hp_change", "success", {"outer": {(1, 2): "tuple key"}})
    assert logger.get_log_summary()["total_events"] == 0


def test_nesting_deeper_than_the_runtime_allows_is_refused_naming_the_path(tmp_path):
    logger = AuditLogger(tmp_path)
    deep = {}
    node = deep
    for _ in range(MAX_DETAILS_DEPTH - 1):
        node["d"] = {}
        node = node["d"]
    logger.log_event("hp_change", "success", deep)  # exactly the limit
    node["d"] = {}
    with pytest.raises(ValueError, match=r"deeper than 100 levels .* first at details\.d\.d"):
        logger.log_event("hp_change", "success", deep)
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="deeper than 100 levels"):
        logger.log_event("hp_change", "success", {"cycle": cycle})
    assert logger.get_log_summary()["total_events"] == 1


def test_the_caller_can_change_its_dict_after_the_call(tmp_path):
    logger = AuditLogger(tmp_path)
    details = {"lr": 0.1}
    logger.log_event("hp_change", "success", details)
    details["lr"] = 0.2
    assert load_json(logger.json_path)[0]["details"] == {"lr": 0.1}
