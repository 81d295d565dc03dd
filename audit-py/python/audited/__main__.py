"""``python -m audited``: the ``auditlog`` command line (summary, query, export, verify, tail)
for people with the Python package and no Rust toolchain. It is the Rust ``auditlog``
itself, so the output is the same::

    python -m audited summary runs/exp1
    python -m audited query runs/exp1/audit_log.json --status failed --output json
    python -m audited tail runs/exp1 -f
"""

import signal
import sys
from typing import List, Optional

from . import _native


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command with ``argv`` (default: the process's arguments) and returns its
    exit code: 0 done, 1 problems found, 2 usage or I/O error."""
    args = sys.argv[1:] if argv is None else list(argv)
    # The command runs in Rust without the GIL, so Python's own SIGINT handler would only
    # run after it returns (never, for `tail -f`): Ctrl-C ends it as it ends `auditlog`, and
    # so does a closed pipe (`| head`).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.stdout.flush()
    return _native.run_cli(["python -m audited", *args])


if __name__ == "__main__":
    sys.exit(main())
