//! `audited._native.Logger`: one open audit log, the base class of the Python
//! `audited.AuditLogger` (which adds the spec's constructor and attributes).
//!
//! Any number of Python threads may log through one instance at once; the runtime orders
//! them (and other processes) with its own locks.
//!
//! **Fork.** A child made by `os.fork()` (multiprocessing's default start method on Linux,
//! PyTorch's data loader workers) inherits the parent's open log, and with it the open file
//! description its cross-process lock is taken on: parent and child would then both hold
//! the lock at once and write over each other (measured: a log that no longer parses after
//! 3,000 events from each). So each instance remembers the fork generation it was opened
//! in, and the first call in a child opens the log afresh (without re-reading it, which the
//! parent has done). The parent's handle is never used or dropped in the child: its locks
//! may have been held by a thread that does not exist there. The hook that counts forks is
//! registered with `os.register_at_fork` by the Python package.

use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use audit_runtime::{AuditLogger, Format, RecoveryKind, Status, read};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::convert::{self, Unserializable};
use crate::diagnostics::delivered;
use crate::errors::to_py_err;

/// How many times this process is a forked child of the one that opened a logger: bumped in
/// each child by [`after_fork_in_child`].
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// `after_fork_in_child()`: counts a fork; registered with `os.register_at_fork`.
#[pyfunction]
pub fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// An open audit log: `{root_log_dir}/audit_log.json` or `audit_log.csv`, or nothing for
/// the format `none`.
#[pyclass(subclass, frozen, weakref, module = "audited._native")]
pub struct Logger {
    /// Locked only while the GIL is held and never across a call that releases it, so it is
    /// never held by another thread when this one forks (a fork needs the GIL).
    opened: Mutex<Opened>,
}

/// The runtime's logger, and the fork generation it was opened in.
struct Opened {
    logger: ManuallyDrop<AuditLogger>,
    generation: u64,
}

impl Drop for Opened {
    fn drop(&mut self) {
        // A handle inherited from the parent is left alone (see the module docs).
        if self.generation == FORK_GENERATION.load(Ordering::Acquire) {
            // SAFETY: dropped once, here; `logger` is not used again.
            unsafe { ManuallyDrop::drop(&mut self.logger) };
        }
    }
}

impl Logger {
    fn wrap(logger: AuditLogger) -> Self {
        Logger {
            opened: Mutex::new(Opened {
                logger: ManuallyDrop::new(logger),
                generation: FORK_GENERATION.load(Ordering::Acquire),
            }),
        }
    }

    /// The runtime's logger for this process: opened afresh in a forked child on its first
    /// use there. Call with the GIL held.
    pub(crate) fn current(&self) -> PyResult<AuditLogger> {
        let generation = FORK_GENERATION.load(Ordering::Acquire);
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if opened.generation != generation {
            let stale = &opened.logger;
            // Constant time: the parent checked the log when it opened it.
            let fresh = AuditLogger::builder(stale.root_log_dir())
                .experiment(stale.experiment_name())
                .format(stale.format())
                .verify_on_open(false)
                .build()
                .map_err(to_py_err)?;
            // The parent's handle is leaked, not dropped: see the module docs.
            opened.logger = ManuallyDrop::new(fresh);
            opened.generation = generation;
        }
        Ok(AuditLogger::clone(&opened.logger))
    }
}

#[pymethods]
impl Logger {
    /// `Logger(root_log_dir, experiment_name, format)`: `format` is `"json"`, `"csv"` or
    /// `"none"`, already chosen (the Python class applies the spec's precedence). Creates
    /// missing directories, continues an existing log, salvages a damaged one.
    #[new]
    #[pyo3(signature = (root_log_dir, experiment_name, format))]
    fn new(
        py: Python<'_>,
        root_log_dir: PathBuf,
        experiment_name: String,
        format: &str,
    ) -> PyResult<Self> {
        let format: Format = format
            .parse()
            .map_err(|e: audit_runtime::AuditError| PyValueError::new_err(e.to_string()))?;
        // Opening reads an existing log to check it, which may take a while for a big one.
        let opened = py.detach(|| {
            AuditLogger::builder(&root_log_dir)
                .experiment(experiment_name)
                .format(format)
                .build()
        });
        delivered(py, opened.map(Logger::wrap).map_err(to_py_err))
    }

    /// `log_event(action_type, status, details=None, error=None)`: writes one event and
    /// returns once it is in the file.
    ///
    /// `status` is `"success"` or `"failed"`; `details` any JSON-serialisable value (a
    /// non-dict is kept as `{"value": ...}`); `error` a message or `None`. A value that
    /// cannot be serialised raises `TypeError` naming where it is, and nothing is written.
    #[pyo3(signature = (action_type, status, details=None, error=None))]
    fn log_event(
        &self,
        py: Python<'_>,
        action_type: &str,
        status: &str,
        details: Option<&Bound<'_, PyAny>>,
        error: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let status: Status = status
            .parse()
            .map_err(|e: audit_runtime::ParseStatusError| PyValueError::new_err(e.to_string()))?;
        let logger = self.current()?;
        if !logger.is_enabled() {
            return Ok(());
        }
        let details = match details {
            Some(obj) if !obj.is_none() => {
                Some(convert::to_json(obj, Unserializable::Raise, "details")?.value)
            }
            _ => None,
        };
        let error = error_text(error)?;
        let written =
            py.detach(|| logger.log_event(action_type, status, details, error.as_deref()));
        delivered(py, written.map_err(to_py_err))
    }

    /// The spec's summary: `{"total_events": n, "by_action_type": {..}, "by_status": {..}}`,
    /// counted from the file (every writer's events, read under the writers' lock).
    fn get_log_summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let logger = self.current()?;
        let summary = py.detach(|| logger.get_log_summary());
        let result = summary.map_err(to_py_err).and_then(|summary| {
            let dict = PyDict::new(py);
            dict.set_item("total_events", summary.total_events)?;
            dict.set_item("by_action_type", summary.by_action_type)?;
            dict.set_item("by_status", summary.by_status)?;
            Ok(dict)
        });
        delivered(py, result)
    }

    /// Makes every event logged so far durable (`fdatasync`).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let logger = self.current()?;
        let flushed = py.detach(|| logger.flush());
        delivered(py, flushed.map_err(to_py_err))
    }

    /// The log file's path, or `None` for the format `none`.
    #[getter]
    fn path(&self) -> PyResult<Option<PathBuf>> {
        Ok(self.current()?.path().map(PathBuf::from))
    }

    /// Whether events are written at all (false for the format `none`).
    #[getter]
    fn enabled(&self) -> PyResult<bool> {
        Ok(self.current()?.is_enabled())
    }

    /// What was done to the log beyond appending since it was opened (a damaged log
    /// salvaged, the reference's layout rewritten, a killed writer's partial event
    /// cleared), oldest first: dicts with `kind`, `message`, `path`, `original_kept_at`,
    /// `events_kept`, `problems`.
    fn recoveries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for recovery in self.current()?.recoveries() {
            let dict = PyDict::new(py);
            let kind = match recovery.kind {
                RecoveryKind::Relaid => "relaid",
                RecoveryKind::Salvaged => "salvaged",
                RecoveryKind::TornWriteCleared => "torn_write_cleared",
                _ => "other",
            };
            dict.set_item("kind", kind)?;
            dict.set_item("message", recovery.to_string())?;
            dict.set_item("path", &recovery.path)?;
            dict.set_item("original_kept_at", &recovery.original_kept_at)?;
            dict.set_item("events_kept", recovery.events_kept)?;
            dict.set_item("problems", &recovery.problems)?;
            list.append(dict)?;
        }
        Ok(list)
    }

    /// What this logger did since it was opened: `events_written`, `events_failed`,
    /// `bytes_written`, `recoveries`, `last_error` (a message or `None`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.current()?.stats();
        let dict = PyDict::new(py);
        dict.set_item("events_written", stats.events_written)?;
        dict.set_item("events_failed", stats.events_failed)?;
        dict.set_item("events_refused", stats.events_refused)?;
        dict.set_item("bytes_written", stats.bytes_written)?;
        dict.set_item("recoveries", stats.recoveries)?;
        dict.set_item("redactions", stats.redactions)?;
        dict.set_item("last_error", stats.last_error.map(|e| e.message))?;
        Ok(dict)
    }
}

/// The `error` argument as text: `None`, a `str`, or anything else as `str(error)` (an
/// exception object, say).
fn error_text(error: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    match error {
        None => Ok(None),
        Some(e) if e.is_none() => Ok(None),
        Some(e) => Ok(Some(e.str()?.to_string_lossy().into_owned())),
    }
}

/// `read_events(path)`: every event of a log file (either format, the reference's files
/// included), in the file's order (JSON newest first, CSV oldest first), as tuples
/// `(timestamp, action_type, status, details, error)`. Read under the writers' lock, so a
/// log being written is read whole.
#[pyfunction]
pub fn read_events<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyList>> {
    let events = py.detach(|| {
        let snapshot = read::Snapshot::take(&path, read::detect(&path)?)?;
        // A last CSV row still being written (or cut by a crash) was never acknowledged.
        snapshot
            .events()
            .skip_cut_off_end()
            .collect::<Result<Vec<_>, _>>()
    });
    let result = events.map_err(to_py_err).and_then(|events| {
        let list = PyList::empty(py);
        for event in events {
            let details = convert::dict_to_python(py, &event.details)?;
            let row = PyTuple::new(
                py,
                [
                    event.timestamp.to_string().into_pyobject(py)?.into_any(),
                    event.action_type.into_pyobject(py)?.into_any(),
                    event.status.as_str().into_pyobject(py)?.into_any(),
                    details.into_any(),
                    event.error.into_pyobject(py)?.into_any(),
                ],
            )?;
            list.append(row)?;
        }
        Ok(list)
    });
    delivered(py, result)
}

/// For the benchmark: logs `count` copies of one event from Rust through `logger`, without
/// Python in the loop, and returns the seconds it took, so that the cost through Python can
/// be compared with the runtime's own in the same run.
#[pyfunction]
#[pyo3(signature = (logger, action_type, details, count))]
pub fn bench_rust_log_event(
    py: Python<'_>,
    logger: &Bound<'_, Logger>,
    action_type: &str,
    details: &Bound<'_, PyAny>,
    count: u64,
) -> PyResult<f64> {
    let details = convert::to_json(details, Unserializable::Raise, "details")?.value;
    let Some(map) = details.as_object().cloned() else {
        return Err(PyTypeError::new_err("details must be a dict"));
    };
    let inner = logger.get().current()?;
    let elapsed = py.detach(|| {
        let start = Instant::now();
        for _ in 0..count {
            inner.log_details(action_type, Status::Success, map.clone(), None)?;
        }
        Ok(start.elapsed().as_secs_f64())
    });
    delivered(py, elapsed.map_err(to_py_err))
}
