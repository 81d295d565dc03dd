"""The spec's ``AuditLogger`` and ``AuditEvent``, on the Rust runtime.

Only the constructor's rules live here (the format's precedence and its warning, the
attributes); opening, writing, summarising and reading are the runtime's, through
``audited._native.Logger``, whose ``log_event`` and ``get_log_summary`` this class inherits
unchanged (no Python frame in between).
"""

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from . import _native

_log = logging.getLogger("audited")

# A forked child must not write through the parent's open log (they would share its lock):
# every logger reopens it in the child at its first use there (audit-py/src/logger.rs).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_native.after_fork_in_child)

FORMAT_ENV_VAR = "AUDIT_LOG_FORMAT"
_FORMATS = ("json", "csv", "none")

PathLike = Union[str, "os.PathLike[str]"]


def _resolve_format(explicit: Optional[str]) -> str:
    """The spec's precedence: the ``format`` argument, then ``AUDIT_LOG_FORMAT``, then json.

    Case and surrounding spaces are ignored. A value that names no format falls back to json,
    as the reference does, but says so (the reference is silent).
    """
    if explicit is not None and str(explicit).strip():
        name = str(explicit).strip().lower()
        if name in _FORMATS:
            return name
        _log.warning("format=%r is not 'json', 'csv' or 'none'; writing json", explicit)
        return "json"
    raw = os.environ.get(FORMAT_ENV_VAR)
    if raw is None or not raw.strip():
        return "json"
    name = raw.strip().lower()
    if name in _FORMATS:
        return name
    _log.warning("%s=%r is not 'json', 'csv' or 'none'; writing json", FORMAT_ENV_VAR, raw)
    return "json"


@dataclass
class AuditEvent:
    """One event, with exactly the spec's five fields, in the spec's order."""

    timestamp: str
    """ISO 8601, UTC, microseconds: ``2026-05-27T14:30:00.123456Z``."""
    action_type: str
    """What was done, e.g. ``hp_change``."""
    status: str
    """``success`` or ``failed`` (a log written by another program may hold others)."""
    details: Dict[str, Any] = field(default_factory=dict)
    """Context: before/after values, affected samples, configuration. Always a dict."""
    error: Optional[str] = None
    """Why it failed, or ``None``."""

    def to_dict(self) -> Dict[str, Any]:
        """The event as the dict ``json.load`` gives for it."""
        return asdict(self)


class AuditLogger(_native.Logger):
    """Writes audit events to ``{root_log_dir}/audit_log.json`` or ``audit_log.csv``.

    ``AuditLogger(root_log_dir, experiment_name="default", format=None)``: ``format`` is
    ``"json"``, ``"csv"`` or ``"none"``; when it is not given, ``AUDIT_LOG_FORMAT`` decides,
    and json is the default. Only the chosen format's file is created (with a hidden lock
    file beside it), and missing directories are created; ``none`` creates nothing.

    An existing log is continued, including one the reference wrote. A log that does not
    parse is never dropped: its bytes are kept as ``audit_log.json.corrupt-<time>``, every
    complete event in it is carried over, and a warning goes to the ``audited`` logger (see
    :meth:`recoveries`).

    Methods (from the runtime):

    - ``log_event(action_type, status, details=None, error=None)``: writes one event and
      returns once it is in the file. ``status`` is ``"success"`` or ``"failed"``. ``details``
      is any JSON-serialisable value; a value that is not raises ``TypeError`` naming where
      it is, and nothing is written. NaN and infinities are written as the strings
      ``"NaN"``, ``"Infinity"``, ``"-Infinity"``. I/O failures raise ``OSError``.
    - ``get_log_summary()``: ``{'total_events': n, 'by_action_type': {..}, 'by_status': {..}}``,
      counting every event in the file, whoever wrote it.
    - ``flush()``: makes the events durable on disk (``fdatasync``); without it they survive
      a crash of the process, not a power cut.
    - ``recoveries()``, ``stats()``: what the logger had to repair, and what it did.

    Safe to share between threads (the GIL is released while writing); other instances and
    other processes may log to the same directory at the same time.
    """

    root_log_dir: Path
    experiment_name: str
    format: str
    json_path: Path
    csv_path: Path

    def __new__(
        cls,
        root_log_dir: PathLike,
        experiment_name: str = "default",
        format: Optional[str] = None,
    ) -> "AuditLogger":
        chosen = _resolve_format(format)
        self = super().__new__(cls, os.fspath(root_log_dir), experiment_name, chosen)
        self.root_log_dir = Path(root_log_dir)
        self.experiment_name = experiment_name
        self.format = chosen
        self.json_path = self.root_log_dir / "audit_log.json"
        self.csv_path = self.root_log_dir / "audit_log.csv"
        return self

    def read_events(self) -> List[AuditEvent]:
        """Every event in this logger's file, in the file's order (JSON newest first, CSV
        oldest first); ``[]`` for the format ``none`` or before the first event."""
        path = self.path
        if path is None or not os.path.exists(path):
            return []
        return read_events(path)

    def __repr__(self) -> str:
        return (
            f"AuditLogger(root_log_dir={str(self.root_log_dir)!r}, "
            f"experiment_name={self.experiment_name!r}, format={self.format!r})"
        )


def read_events(path: PathLike) -> List[AuditEvent]:
    """Every event of a log, in the file's order (JSON newest first, CSV oldest first).

    ``path`` is a log file of either format (told from its content; the reference's files,
    with their ``NaN`` tokens, included) or a directory holding ``audit_log.json`` or
    ``audit_log.csv``. A log that other processes are writing is read consistently.
    """
    path = Path(path)
    if path.is_dir():
        for name in ("audit_log.json", "audit_log.csv"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise FileNotFoundError(f"no audit_log.json or audit_log.csv in {path}")
    return [AuditEvent(*row) for row in _native.read_events(os.fspath(path))]
