"""Per-event cost of ``AuditLogger.log_event`` called from Python, on logs of 0, 10,000 and
1,000,000 events, next to the runtime's own cost for the same event from Rust (in the same
process, same file, interleaved), the Python call overhead, and the reference's algorithm
(read the whole JSON file, insert the event first, rewrite it with ``indent=2``, under a
file lock) at 1,000 and 10,000 events.

Run it on a release build (``pip install ./audit-py`` makes one; ``maturin develop`` makes a
debug build, which the header flags)::

    python audit-py/bench/log_event_bench.py            # about a minute, ~700 MB of disk
    python audit-py/bench/log_event_bench.py --quick    # smaller logs, a few seconds

Each cost is the median over interleaved rounds of the time per event of a batch; compare
ratios, not absolute times, on a shared machine.
"""

import argparse
import fcntl
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import audited
from audited import AuditLogger, _native

# About 190 bytes once written, like the spec's tag_add example.
DETAILS = {
    "tag_name": "defect",
    "samples_affected": 5,
    "sample_ids": ["s1", "s2", "s3", "s4", "s5"],
    "origins": ["train", "train", "val", "val", "test"],
}


def per_event(fn, count):
    start = time.perf_counter()
    fn(count)
    return (time.perf_counter() - start) / count


def python_batch(logger):
    log_event = logger.log_event

    def run(count):
        for _ in range(count):
            log_event("tag_add", "success", DETAILS)

    return run


def rust_batch(logger):
    return lambda count: _native.bench_rust_log_event(logger, "tag_add", DETAILS, count)


def fill(logger, events):
    """Brings the log to ``events`` events, from Rust (filling from Python would only be
    slower, not different)."""
    have = logger.get_log_summary()["total_events"]
    if events > have:
        _native.bench_rust_log_event(logger, "tag_add", DETAILS, events - have)


def measure_ours(root, size, rounds, batch):
    logger = AuditLogger(root / f"ours-{size}", format="json")
    fill(logger, size)
    off = AuditLogger(root / "off", format="none")
    py, rust, call = [], [], []
    # One round each first, not counted: the fill may have left a rewrite of the file being
    # built in the background, and the first calls warm the caches.
    python_batch(logger)(batch)
    rust_batch(logger)(batch)
    for _ in range(rounds):
        py.append(per_event(python_batch(logger), batch))
        rust.append(per_event(rust_batch(logger), batch))
        call.append(per_event(python_batch(off), batch))
    return statistics.median(py), statistics.median(rust), statistics.median(call)


def reference_log_event(path, lock_path, event):
    """The reference's write: the whole file read, the event put first, the file rewritten."""
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        events = []
        if path.exists():
            with open(path) as f:
                events = json.load(f)
        events.insert(0, event)
        with open(path, "w") as f:
            json.dump(events, f, indent=2)


def reference_event():
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".%06dZ" % (time.time_ns() // 1000 % 10**6)
    return {
        "timestamp": stamp,
        "action_type": "tag_add",
        "status": "success",
        "details": DETAILS,
        "error": None,
    }


def measure_reference(root, size, rounds, batch):
    path = root / f"reference-{size}" / "audit_log.json"
    path.parent.mkdir()
    with open(path, "w") as f:
        json.dump([reference_event() for _ in range(size)], f, indent=2)
    lock = path.with_suffix(".lock")
    costs = []
    for _ in range(rounds):
        costs.append(
            per_event(
                lambda n: [reference_log_event(path, lock, reference_event()) for _ in range(n)],
                batch,
            )
        )
    return statistics.median(costs)


def us(seconds):
    return f"{seconds * 1e6:10.1f} µs"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller logs and batches")
    args = parser.parse_args()
    sizes = [0, 1_000, 10_000] if args.quick else [0, 10_000, 1_000_000]
    rounds, batch = (3, 500) if args.quick else (7, 5_000)
    ref_sizes = [100, 1_000] if args.quick else [1_000, 10_000]
    ref_rounds, ref_batch = (3, 3) if args.quick else (5, 4)

    print(
        f"audited {audited.__version__} ({'DEBUG build: figures not representative' if _native.DEBUG_BUILD else 'release build'}), "
        f"Python {platform.python_version()}, {platform.machine()}, load {os.getloadavg()[0]:.2f}"
    )
    print(f"event: tag_add with {len(json.dumps(DETAILS))} bytes of details; "
          f"median of {rounds} interleaved rounds of {batch} events\n")
    print(f"{'log size at start':>20} | {'log_event from Python':>21} | {'same event from Rust':>20} | "
          f"{'Python call overhead':>20} | {'Python / (Rust + call)':>22}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="audited-bench-") as tmp:
        root = Path(tmp)
        for size in sizes:
            py, rust, call = measure_ours(root, size, rounds, batch)
            ratio = py / (rust + call)
            rows.append((size, py))
            print(f"{size:>20,} | {us(py):>21} | {us(rust):>20} | {us(call):>20} | {ratio:>21.2f}x")
        flat = rows[-1][1] / rows[0][1]
        print(f"\nfrom Python, {rows[-1][0]:,} events against an empty log: x{flat:.2f}")
        print(f"\nthe reference's algorithm (whole file read and rewritten, median of {ref_rounds} rounds of {ref_batch}):")
        for size in ref_sizes:
            cost = measure_reference(root, size, ref_rounds, ref_batch)
            print(f"{size:>20,} | {us(cost):>21} | {cost / rows[0][1]:>10.0f}x ours from Python on an empty log")


if __name__ == "__main__":
    sys.exit(main())
