"""What the reference loses and ours keeps: two AuditLogger instances on one directory (which
WeightsLab's own services create) from two threads and from two processes, and other Python
threads running while one writes."""

import fcntl
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from audited import AuditLogger

from conftest import load_json


def read_all(logger):
    if logger.format == "json":
        return [e["details"] for e in load_json(logger.json_path)]
    import csv

    with open(logger.csv_path, newline="") as f:
        return [json.loads(r["details"]) for r in csv.DictReader(f)]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_two_instances_on_one_directory_from_two_threads_lose_nothing(tmp_path, fmt):
    # Two services of one server, each with its own logger, as WeightsLab has.
    loggers = [AuditLogger(tmp_path, f"service{i}", format=fmt) for i in range(2)]
    per_logger = 400
    start = threading.Barrier(2)

    def work(n):
        start.wait()
        for i in range(per_logger):
            loggers[n].log_event("tag_add", "success", {"service": n, "i": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = sorted((d["service"], d["i"]) for d in read_all(loggers[0]))
    assert seen == [(n, i) for n in range(2) for i in range(per_logger)]
    for logger in loggers:
        assert logger.get_log_summary()["total_events"] == 2 * per_logger


CHILD = r"""
import sys
from audited import AuditLogger
root, fmt, who, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
logger = AuditLogger(root, "service-" + who, format=fmt)
print("ready", flush=True)
sys.stdin.readline()  # both start together
for i in range(count):
    logger.log_event("hp_change", "success", {"process": who, "i": i, "pad": "p" * (i % 300)})
print("done", flush=True)
"""


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_two_processes_on_one_directory_lose_nothing(tmp_path, fmt):
    count = 500
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), fmt, who, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    ]
    for child in children:
        assert child.stdout.readline().strip() == "ready"
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        assert child.stdout.readline().strip() == "done"
        assert child.wait() == 0
    logger = AuditLogger(tmp_path, format=fmt)
    details = read_all(logger)
    assert sorted((d["process"], d["i"]) for d in details) == [
        (who, i) for who in ("a", "b") for i in range(count)
    ]
    events = logger.read_events()
    stamps = [e.timestamp for e in events]
    ordered = sorted(stamps, reverse=(fmt == "json"))
    assert stamps == ordered and len(set(stamps)) == len(stamps), "one strict order"
    assert logger.recoveries() == []


def test_other_python_threads_run_while_one_waits_to_write(tmp_path):
    logger = AuditLogger(tmp_path)
    logger.log_event("pause", "success")
    lock_path = tmp_path / ".audit_log.json.lock"
    assert lock_path.exists()
    # Hold the writers' lock, as another process writing would: the logging thread waits
    # for it inside log_event.
    holder = os.open(lock_path, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    done = threading.Event()

    def write():
        logger.log_event("resume", "success")
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    inode = os.stat(lock_path).st_ino
    # This loop is Python: it runs only because the waiting writer released the GIL. It ends
    # when the kernel lists the writer as blocked on the lock (bounded, so a writer that
    # never gets there fails the test instead of hanging it).
    for _ in range(20_000):
        if blocked_on(inode):
            break
        time.sleep(0.001)
    else:
        pytest.fail("the writer never waited for the lock")
    assert not done.is_set()
    fcntl.flock(holder, fcntl.LOCK_UN)
    os.close(holder)
    writer.join()
    assert [e["action_type"] for e in load_json(logger.json_path)] == ["resume", "pause"]


def blocked_on(inode):
    """Whether /proc/locks lists a process waiting (``->``) for a lock on ``inode``."""
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if "->" in fields and fields[fields.index("->") + 5].endswith(f":{inode}"):
                return True
    return False


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_forked_child_and_its_parent_share_a_logger_and_lose_nothing(tmp_path, fmt):
    # multiprocessing's fork start method and data loader workers inherit open loggers.
    logger = AuditLogger(tmp_path, format=fmt)
    logger.log_event("pause", "success", {"who": "parent", "i": -1})
    count = 1500
    read_end, write_end = os.pipe()
    pid = os.fork()
    who = "child" if pid == 0 else "parent"
    if pid == 0:
        os.close(read_end)
        try:
            for i in range(count):
                logger.log_event("tag_add", "success", {"who": who, "i": i, "pad": "x" * (i % 700)})
            os.write(write_end, b"ok")
        finally:
            os._exit(0)
    os.close(write_end)
    for i in range(count):
        logger.log_event("tag_add", "success", {"who": who, "i": i, "pad": "x" * (i % 700)})
    assert os.read(read_end, 2) == b"ok", "the child failed"
    os.waitpid(pid, 0)
    seen = sorted((d["who"], d["i"]) for d in read_all(logger))
    assert seen == [("child", i) for i in range(count)] + [("parent", i) for i in range(-1, count)]
    assert logger.recoveries() == [], "nothing had to be salvaged"


def test_a_forked_child_logs_decorated_calls_through_its_own_handle(global_logger):
    from audited import audited as audit

    @audit(action="evaluation_start", details=lambda who: {"who": who})
    def evaluate(who):
        pass

    evaluate("parent-before")
    pid = os.fork()
    if pid == 0:
        try:
            evaluate("child")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    evaluate("parent-after")
    whos = [d["who"] for d in read_all(global_logger)]
    assert sorted(whos) == ["child", "parent-after", "parent-before"]
