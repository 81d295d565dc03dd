//! [`AuditLogger`]: the spec's logger. It resolves the format, owns the open log file and
//! turns calls into events; the file formats themselves live in `json_file` and `csv_file`.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{FORMAT_ENV_VAR, resolve_format};
use crate::encode::Record;
use crate::event::{self, details_object};
use crate::stats::{Counters, LoggerStats};
use crate::storage::csv::{self as csv_log, CsvLog};
use crate::storage::fs::DEFAULT_FILE_MODE;
use crate::storage::json::{self as json_log, JsonLog};
use crate::storage::log_file::Options;
use crate::storage::recovery::Recovery;
use crate::summary::LogSummary;
use crate::{AuditError, Durability, Format, Status, Timestamp, actor, finite};

/// Writes audit events to `{root_log_dir}/audit_log.json` or `{root_log_dir}/audit_log.csv`.
///
/// Cheap to clone (clones share the open file) and safe to use from many threads; several
/// processes may log to the same directory at once.
///
/// ```
/// use audit_runtime::{AuditLogger, Format, Status};
/// use serde_json::json;
///
/// let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path()).experiment("demo").format(Format::Json).build()?;
/// logger.log_event("hp_change", Status::Success, json!({"learning_rate": 0.001}), None)?;
/// logger.log_event("checkpoint_restore", Status::Failed, json!({"checkpoint_id": "ckpt_001"}),
///                  Some("Checkpoint file not found"))?;
///
/// let summary = logger.get_log_summary()?;
/// assert_eq!(summary.total_events, 2);
/// assert_eq!(summary.by_status["failed"], 1);
///
/// // Newest first, as the spec says.
/// let events: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("audit_log.json"))?)?;
/// assert_eq!(events[0]["action_type"], "checkpoint_restore");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AuditLogger {
    inner: Arc<Inner>,
}

struct Inner {
    root_log_dir: PathBuf,
    experiment: String,
    format: Format,
    sink: Sink,
    counters: Counters,
}

enum Sink {
    Disabled,
    Json(JsonLog),
    Csv(CsvLog),
}

impl fmt::Debug for AuditLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLogger")
            .field("experiment", &self.inner.experiment)
            .field("format", &self.inner.format)
            .field("path", &self.path())
            .finish()
    }
}

/// Configures an [`AuditLogger`]; see [`AuditLogger::builder`].
#[derive(Debug, Clone)]
#[must_use = "call .build() to open the logger"]
pub struct AuditLoggerBuilder {
    root_log_dir: PathBuf,
    experiment: Option<String>,
    format: Option<Format>,
    durability: Durability,
    strict: bool,
    verify_on_open: bool,
    file_mode: u32,
}

impl AuditLoggerBuilder {
    /// The experiment's name (defaults to the directory's name). Kept for the caller's use;
    /// the files hold only the spec's fields.
    pub fn experiment(mut self, name: impl Into<String>) -> Self {
        self.experiment = Some(name.into());
        self
    }

    /// The format, overriding `AUDIT_LOG_FORMAT`.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// How durable an event is when logging returns (default: [`Durability::Written`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Makes an unrecognised `AUDIT_LOG_FORMAT` an error instead of a warning and JSON.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Whether opening an existing log reads all of it to check it (default: yes). Without,
    /// only its first event and its end are checked, which finds truncation, appended
    /// garbage and torn writes, and keeps opening a huge log instant.
    pub fn verify_on_open(mut self, verify: bool) -> Self {
        self.verify_on_open = verify;
        self
    }

    /// The permission bits of files the logger creates: the log, its lock file, and the
    /// copies it keeps of damaged logs (default `0o600`, readable by the owner only, since an
    /// audit log describes people). For example `0o640` lets a group of auditors read it.
    /// A file that already exists keeps its mode and owner, also when the logger rewrites
    /// it. Bits beyond `0o777` are ignored.
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// let dir = tempfile::tempdir()?;
    /// let logger = audit_runtime::AuditLogger::builder(dir.path())
    ///     .format(audit_runtime::Format::Json)
    ///     .file_mode(0o640)
    ///     .build()?;
    /// let mode = std::fs::metadata(logger.path().unwrap())?.permissions().mode();
    /// assert_eq!(mode & 0o777, 0o640);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn file_mode(mut self, mode: u32) -> Self {
        self.file_mode = mode & 0o777;
        self
    }

    /// Resolves the format and opens (or creates) the log, creating missing directories.
    ///
    /// An existing log is continued. One that does not parse is kept aside
    /// (`audit_log.json.corrupt-<time>`) and every complete event in it is carried over;
    /// see [`AuditLogger::recovery`].
    pub fn build(self) -> Result<AuditLogger, AuditError> {
        let env_value = std::env::var(FORMAT_ENV_VAR).ok();
        let format = resolve_format(self.format, env_value.as_deref(), self.strict)?;
        let experiment = self.experiment.unwrap_or_else(|| {
            self.root_log_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let path = format.file_name().map(|name| self.root_log_dir.join(name));
        if path.is_some() {
            fs::create_dir_all(&self.root_log_dir)
                .map_err(|e| AuditError::io("create directory", &self.root_log_dir, e))?;
        }
        let options = Options {
            durability: self.durability,
            verify: self.verify_on_open,
            file_mode: self.file_mode,
        };
        let sink = match (format, path) {
            (Format::Json, Some(path)) => Sink::Json(json_log::open(path, options)?),
            (Format::Csv, Some(path)) => Sink::Csv(csv_log::open(path, options)?),
            _ => Sink::Disabled,
        };
        Ok(AuditLogger {
            inner: Arc::new(Inner {
                root_log_dir: self.root_log_dir,
                experiment,
                format,
                sink,
                counters: Counters::default(),
            }),
        })
    }
}

impl AuditLogger {
    /// Opens the log of `experiment_name` in `root_log_dir`, in the format `AUDIT_LOG_FORMAT`
    /// names (JSON by default).
    pub fn new(root_log_dir: impl AsRef<Path>, experiment_name: &str) -> Result<Self, AuditError> {
        Self::builder(root_log_dir)
            .experiment(experiment_name)
            .build()
    }

    /// Starts configuring a logger for `root_log_dir`.
    pub fn builder(root_log_dir: impl AsRef<Path>) -> AuditLoggerBuilder {
        AuditLoggerBuilder {
            root_log_dir: root_log_dir.as_ref().to_owned(),
            experiment: None,
            format: None,
            durability: Durability::default(),
            strict: false,
            verify_on_open: true,
            file_mode: DEFAULT_FILE_MODE,
        }
    }

    /// Logs one event; returns once it is in the file.
    ///
    /// `details` may be `json!({...})`, `None`, or any `Option<Value>`: `None` and `null`
    /// are written as `{}`, an object as it is, and any other value as `{"value": ...}`.
    /// `serde_json::json!` turns NaN into `null` before this sees it; to keep NaN and
    /// infinities, use [`AuditLogger::log_serialize`].
    pub fn log_event(
        &self,
        action_type: &str,
        status: Status,
        details: impl Into<Option<Value>>,
        error: Option<&str>,
    ) -> Result<(), AuditError> {
        if !self.is_enabled() {
            // The caller handed the value over; a deep one must not overflow on its drop.
            if let Some(details) = details.into() {
                event::dismantle(details);
            }
            return Ok(());
        }
        let details = details_object(details.into());
        self.log_details(action_type, status, details, error, None)
            .map(drop)
    }

    /// Logs one event whose details are any `Serialize` value, writing NaN and infinities as
    /// the strings `"NaN"`, `"Infinity"` and `"-Infinity"` instead of losing them.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let logger = audit_runtime::AuditLogger::builder(dir.path()).format(audit_runtime::Format::Json).build()?;
    /// #[derive(serde::Serialize)]
    /// struct Eval { split: &'static str, last_loss: f64 }
    /// logger.log_serialize("evaluation_start", audit_runtime::Status::Success,
    ///                      &Eval { split: "val", last_loss: f64::NAN }, None)?;
    /// let text = std::fs::read_to_string(dir.path().join("audit_log.json"))?;
    /// assert!(text.contains(r#""last_loss":"NaN""#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_serialize<T: Serialize + ?Sized>(
        &self,
        action_type: &str,
        status: Status,
        details: &T,
        error: Option<&str>,
    ) -> Result<(), AuditError> {
        if !self.is_enabled() {
            return Ok(());
        }
        // Bounded, so that a value nested without limit is refused, not walked by recursion.
        let value =
            finite::to_value_within(details, event::MAX_DETAILS_DEPTH).map_err(|source| {
                AuditError::Serialize {
                    what: "details",
                    source,
                }
            })?;
        self.log_details(
            action_type,
            status,
            details_object(Some(value)),
            error,
            None,
        )
        .map(drop)
    }

    /// Logs one event with a ready details object, no earlier than `not_before` (used for
    /// events that waited in a buffer), and returns the timestamp it was written with. Adds
    /// `details.actor` when a transport layer set one for this call (see [`crate::actor`]).
    pub fn log_details(
        &self,
        action_type: &str,
        status: Status,
        details: Map<String, Value>,
        error: Option<&str>,
        not_before: Option<Timestamp>,
    ) -> Result<Option<Timestamp>, AuditError> {
        let result = self.write_details(action_type, status, details, error, not_before);
        match &result {
            Ok(Some(_)) => self.inner.counters.written(),
            Ok(None) => {}
            Err(e) => self.inner.counters.failed(action_type, e),
        }
        result
    }

    fn write_details(
        &self,
        action_type: &str,
        status: Status,
        details: Map<String, Value>,
        error: Option<&str>,
        not_before: Option<Timestamp>,
    ) -> Result<Option<Timestamp>, AuditError> {
        let (mut details, error) = event::prepare(action_type, details, error)?;
        if !details.contains_key("actor")
            && let Some(who) = actor::current()
        {
            details.insert("actor".to_owned(), Value::String(who.to_string()));
        }
        let record = Record {
            action_type,
            status: status.as_str(),
            details: &details,
            error,
        };
        let wanted = not_before.unwrap_or_else(Timestamp::now);
        match &self.inner.sink {
            Sink::Disabled => Ok(None),
            Sink::Json(log) => log.append(&record, wanted).map(Some),
            Sink::Csv(log) => log.append(&record, wanted).map(Some),
        }
    }

    /// Counts the events in the log by action type and status (the spec's
    /// `get_log_summary`), streaming the file. Empty for the `none` format.
    pub fn get_log_summary(&self) -> Result<LogSummary, AuditError> {
        match &self.inner.sink {
            Sink::Disabled => Ok(LogSummary::default()),
            Sink::Json(log) => log.summary(),
            Sink::Csv(log) => log.summary(),
        }
    }

    /// Makes every event logged so far durable (`fdatasync`). With
    /// [`Durability::Synced`] each call to log already does.
    pub fn flush(&self) -> Result<(), AuditError> {
        match &self.inner.sink {
            Sink::Disabled => Ok(()),
            Sink::Json(log) => log.sync(),
            Sink::Csv(log) => log.sync(),
        }
    }

    /// Whether events are written anywhere (false for the `none` format).
    pub fn is_enabled(&self) -> bool {
        !matches!(self.inner.sink, Sink::Disabled)
    }

    /// The format in use.
    pub fn format(&self) -> Format {
        self.inner.format
    }

    /// The log file, or `None` for the `none` format.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.sink {
            Sink::Disabled => None,
            Sink::Json(log) => Some(log.path()),
            Sink::Csv(log) => Some(log.path()),
        }
    }

    /// The directory the log lives in.
    pub fn root_log_dir(&self) -> &Path {
        &self.inner.root_log_dir
    }

    /// The experiment's name.
    pub fn experiment_name(&self) -> &str {
        &self.inner.experiment
    }

    /// What this logger has done since it was opened: events written and failed, bytes
    /// written, recoveries, and the latest error with its time. Every failed event is also
    /// reported through `tracing` (target `audit`, WARN), at most once a second, each report
    /// counting the failures it stands for.
    pub fn stats(&self) -> LoggerStats {
        let (bytes, recoveries) = match &self.inner.sink {
            Sink::Disabled => (0, 0),
            Sink::Json(log) => log.counts(),
            Sink::Csv(log) => log.counts(),
        };
        self.inner.counters.snapshot(bytes, recoveries)
    }

    /// The latest thing done to the log that was not a plain append, if anything: an
    /// existing log rewritten into this crate's layout or salvaged after damage (when it was
    /// opened, or later, when another program had changed it), or a torn write of a killed
    /// writer cleared. See [`AuditLogger::recoveries`] for all of them.
    pub fn recovery(&self) -> Option<Recovery> {
        self.recoveries().pop()
    }

    /// Every recovery since the logger was opened, oldest first (the latest 32). Each is
    /// also reported once through `tracing` (target `audit`, level WARN) when it happens.
    pub fn recoveries(&self) -> Vec<Recovery> {
        match &self.inner.sink {
            Sink::Disabled => Vec::new(),
            Sink::Json(log) => log.recoveries(),
            Sink::Csv(log) => log.recoveries(),
        }
    }
}
