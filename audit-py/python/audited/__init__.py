"""Trustworthy audit logs for ML experiment servers: WeightsLab's ``AuditLogger`` API on the
audited Rust runtime.

A drop-in for ``weightslab.backend.audit_logger``::

    from audited import AuditLogger, AuditEvent

    logger = AuditLogger(root_log_dir="/path/to/logs", experiment_name="my_experiment")
    logger.log_event("hp_change", "success", {"learning_rate": 0.001, "batch_size": 32})
    logger.get_log_summary()   # {'total_events': 1, 'by_action_type': {...}, 'by_status': {...}}

The files are the spec's (``audit_log.json``, newest first, or ``audit_log.csv``), written by
the Rust runtime: each event costs the same however large the log is, is in the file when
``log_event`` returns, survives the process being killed, and any number of threads, logger
instances and processes may log to one directory at once. A damaged log is salvaged, never
replaced.

For handlers, ``@audited(action="tag_add", details=..., capture=...)`` logs one event per
call through the logger installed with ``audited.init(logger)``.

Warnings (an invalid ``AUDIT_LOG_FORMAT``, a log that had to be salvaged, an event that
could not be written) go to the ``logging`` logger ``"audited"``; the package never prints.
"""

from ._native import BUILTIN_ACTIONS, MAX_DETAILS_DEPTH, __version__
from ._decorator import (
    AuditUnavailableError,
    UnknownActionError,
    audited,
    init,
    is_active,
    known_actions,
    register_actions,
    shutdown,
    switch_experiment,
)
from ._logger import AuditEvent, AuditLogger, read_events

__all__ = [
    "AuditEvent",
    "AuditLogger",
    "AuditUnavailableError",
    "BUILTIN_ACTIONS",
    "MAX_DETAILS_DEPTH",
    "UnknownActionError",
    "__version__",
    "audited",
    "init",
    "is_active",
    "known_actions",
    "read_events",
    "register_actions",
    "shutdown",
    "switch_experiment",
]
