//! Where events are logged: [`AuditLogger`] and its builder, the configuration (format and
//! durability), the global logger, the one pipeline that finishes every event, the actor of
//! the call, the [`Sink`] seam behind the logger, and its counters.
//!
//! The logger resolves the format, owns the open log file (its record of truth) and any
//! extra sinks, and writes the events the pipeline finished; the file formats themselves
//! live in `crate::storage`. This module must not know how a format lays out its bytes.

pub mod actor;
mod config;
pub(crate) mod context;
pub(crate) mod global;
pub(crate) mod pipeline;
pub mod request;
mod sink;
mod stats;
mod unavailable;

pub use config::{Durability, FORMAT_ENV_VAR, Format};
pub use global::{
    DEFAULT_PRE_INIT_CAPACITY, global, init, is_active, log_details, log_details_redacting,
    log_event, pre_init_dropped, set_pre_init_capacity, shutdown, switch_experiment,
};
pub use sink::{FinishedEvent, MemorySink, Sink};
pub use stats::{LastError, LoggerStats, STATS_FILE_FORMAT, STATS_FILE_NAME, STATS_FILE_VERSION};
pub use unavailable::AuditUnavailable;

use std::fmt;
use std::fs;
use std::panic::RefUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use self::config::resolve_format;
use self::pipeline::Draft;
use self::stats::Counters;
use crate::LogSummary;
use crate::event::{self, details_object};
use crate::policy::{KeySlot, Redaction, Secrets, size_cap::SizeLimits};
use crate::storage::csv::{self as csv_log, CsvLog};
use crate::storage::fs::DEFAULT_FILE_MODE;
use crate::storage::json::{self as json_log, JsonLog};
use crate::storage::log_file::Options;
use crate::storage::recovery::Recovery;
use crate::{AuditError, Status, Timestamp};

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
    /// Whether the record of truth is anything but [`Truth::Disabled`], fixed when the logger
    /// is made. Kept beside the pointer, not behind it: `#[audited(logger = ..)]` tests it on
    /// every call, and this way the off test is one byte read from the logger it was handed,
    /// not a load of the shared state and then of its enum's tag.
    enabled: bool,
}

struct Inner {
    root_log_dir: PathBuf,
    experiment: String,
    format: Format,
    /// The record of truth: its timestamp is the event's and its error the call's.
    truth: Truth,
    /// Sinks that get every event the record of truth accepted; their failures are counted
    /// and reported, never returned (see [`AuditLoggerBuilder::sink`]).
    extra: Vec<Arc<dyn Sink + RefUnwindSafe>>,
    counters: Counters,
    /// Refuse `#[audited]` calls while the log cannot take events
    /// ([`AuditLoggerBuilder::fail_closed`]).
    fail_closed: bool,
    /// What is redacted or hashed in every event, and the key for hashing.
    secrets: Secrets,
    /// Ships the log's events into PostgreSQL, reading the file (see [`crate::ship`]).
    #[cfg(feature = "postgres")]
    shipper: Option<crate::ship::Shipper>,
    /// Signs a digest when its interval has passed (with a signing key); set once the
    /// logger exists, since the timer holds a weak reference to it.
    digest_timer: std::sync::OnceLock<crate::integrity::timer::DigestTimer>,
}

impl Inner {
    /// The digest timer's tick (see [`crate::integrity::timer`]).
    fn sign_digest_when_due(&self) -> Option<std::time::Duration> {
        match &self.truth {
            Truth::Json(log) => log.sign_when_due(),
            Truth::Csv(log) => log.sign_when_due(),
            Truth::Disabled | Truth::Memory(_) => None,
        }
    }
}

enum Truth {
    Disabled,
    Json(JsonLog),
    Csv(CsvLog),
    Memory(MemorySink),
}

impl Truth {
    fn sink(&self) -> Option<&dyn Sink> {
        match self {
            Truth::Disabled => None,
            Truth::Json(log) => Some(log),
            Truth::Csv(log) => Some(log),
            Truth::Memory(sink) => Some(sink),
        }
    }
}

/// The extra sinks of a builder; `Debug` says how many, since a sink need not be `Debug`.
#[derive(Clone, Default)]
struct ExtraSinks(Vec<Arc<dyn Sink + RefUnwindSafe>>);

impl fmt::Debug for ExtraSinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} extra sinks", self.0.len())
    }
}

impl fmt::Debug for AuditLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLogger")
            .field("experiment", &self.inner.experiment)
            .field("format", &self.inner.format)
            .field("path", &self.path())
            .field("extra_sinks", &self.inner.extra.len())
            .finish()
    }
}

/// Configures an [`AuditLogger`]; see [`AuditLogger::builder`].
///
/// Every setting has a default: the experiment is named after the directory, the format
/// comes from `AUDIT_LOG_FORMAT` (JSON when it is unset), events are
/// [`Durability::Written`], and an existing log is read whole to check it.
///
/// ```
/// use audit_runtime::{AuditLogger, Durability, Format};
/// let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path().join("resnet_sweep")) // created if missing
///     .experiment("resnet sweep, run 3")
///     .format(Format::Csv)
///     .durability(Durability::Synced)
///     .build()?;
/// assert_eq!(logger.experiment_name(), "resnet sweep, run 3");
/// assert_eq!(logger.format(), Format::Csv);
/// assert_eq!(logger.path(), Some(dir.path().join("resnet_sweep/audit_log.csv").as_path()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    fail_closed: bool,
    extra: ExtraSinks,
    #[cfg(feature = "postgres")]
    ship: Option<crate::ship::ShipConfig>,
    integrity: crate::integrity::IntegrityConfig,
    redaction: Redaction,
    hmac_key_file: Option<PathBuf>,
    size_limits: SizeLimits,
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
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, Format};
    /// # let dir = tempfile::tempdir()?;
    /// // A deployment that misspells the format (set here for the example):
    /// unsafe { std::env::set_var("AUDIT_LOG_FORMAT", "xml") };
    /// assert_eq!(AuditLogger::builder(dir.path()).build()?.format(), Format::Json); // a warning
    /// assert!(AuditLogger::builder(dir.path()).strict(true).build().is_err());
    ///
    /// // A format chosen in code does not read the variable at all.
    /// let logger = AuditLogger::builder(dir.path()).strict(true).format(Format::Csv).build()?;
    /// assert_eq!(logger.format(), Format::Csv);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

    /// Fail-closed auditing: while the log cannot take events, `#[audited]` calls are
    /// refused before their body runs, so that nothing happens unrecorded (default: off,
    /// fail-open, where a call goes ahead and its lost event is counted and warned about).
    ///
    /// Before each recorded call the logger checks that the log's directory is there and
    /// its path holds a regular file or nothing; after a failed write, also that the
    /// directory is writable and has at least 1 MiB free (on the file system and under the
    /// process's `RLIMIT_FSIZE`, if it has one). When the check fails, the call
    /// returns `Err(E::from(AuditUnavailable))` (for a tonic handler, `UNAVAILABLE`), the
    /// refusal is counted ([`LoggerStats::events_refused`]), warned about and, where a sink
    /// can take it, logged as a failed event. A call whose body ran but whose event could not
    /// be written returns the same error (with [`AuditUnavailable::ran`]) instead of its
    /// success. A function whose return type cannot carry the error is not refused; write
    /// `#[audited(fail_closed)]` to make that a compile error. By-hand `log_event` is
    /// unchanged: its error is the call's to handle.
    ///
    /// Also: every event looks the log's path up (instead of trusting the directory watch
    /// for up to 100 ms), so no event goes to a file removed or renamed by hand; a removed
    /// log directory is not made again but refused until it is back. When the fault clears,
    /// logging resumes by itself, and the first event written says how many events were
    /// lost or refused meanwhile, in `details._audit.outage` (as it does fail-open).
    ///
    /// See [`AuditUnavailable`] for an example.
    pub fn fail_closed(mut self, fail_closed: bool) -> Self {
        self.fail_closed = fail_closed;
        self
    }

    /// Also writes every event to `sink`, after the log file (call it again for more sinks;
    /// they are written in the order they were added).
    ///
    /// The file stays the record of truth: an event's timestamp is the one the file gave it
    /// (the sink is handed that timestamp), and an error from the file is the logging call's
    /// error, in which case no extra sink sees the event. An extra sink's failure is not
    /// returned: the event is in the file, so the call succeeded. It is counted in
    /// [`LoggerStats::sink_failures`](crate::LoggerStats::sink_failures), becomes the
    /// stats' `last_error`, and is reported through `tracing` like a failed event. With
    /// [`Format::None`] there is no file and nothing is written to any sink.
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, Format, MemorySink, Status};
    /// let dir = tempfile::tempdir()?;
    /// let copy = MemorySink::new();
    /// let logger = AuditLogger::builder(dir.path()).format(Format::Json).sink(copy.clone()).build()?;
    /// logger.log_event("pause", Status::Success, None, None)?;
    /// logger.log_event("resume", Status::Success, None, None)?;
    /// // The same events, timestamps included (the JSON file stores them newest first).
    /// let mut from_file = audit_runtime::read::open_events(logger.path().unwrap())?
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// from_file.reverse();
    /// assert_eq!(copy.events(), from_file);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// `RefUnwindSafe` keeps the logger usable inside `catch_unwind` (as `#[audited]` code
    /// and tests use it); `Mutex`, atomics and `Arc`s of them all are.
    pub fn sink(mut self, sink: impl Sink + RefUnwindSafe + 'static) -> Self {
        self.extra.0.push(Arc::new(sink));
        self
    }

    /// Also ships every event into the PostgreSQL database at `config` (a URL, or a
    /// [`ShipConfig`](crate::ship::ShipConfig)), exactly once, the file being the
    /// write-ahead log; without this, the `AUDIT_LOG_POSTGRES_URL` environment variable
    /// ([`POSTGRES_URL_ENV_VAR`](crate::ship::POSTGRES_URL_ENV_VAR)) does the same when it is
    /// set. Feature `postgres`.
    ///
    /// A background thread reads the events from the file after its cursor and inserts
    /// them in batches: logging never waits for the database, memory is one batch, and while
    /// the database is away the shipper retries with backoff and warns through `tracing`
    /// (the file holds every event meanwhile). [`AuditLogger::flush`] waits until the events
    /// logged before it are in the database, at most
    /// [`ShipConfig::flush_timeout`](crate::ship::ShipConfig::flush_timeout) (30 s by
    /// default). [`AuditLogger::stats`] says how far behind it is
    /// ([`LoggerStats::shipping`](crate::LoggerStats::shipping)). Only the URL is checked
    /// when the logger is built (an error names it without its password); the database need
    /// not be up. Nothing is shipped for [`Format::None`].
    ///
    /// ```no_run
    /// use audit_runtime::{AuditLogger, Status};
    /// let logger = AuditLogger::builder("runs/exp1")
    ///     .ship_to_postgres("postgres://audit:secret@db.internal/audit")
    ///     .build()?;
    /// logger.log_event("pause", Status::Success, None, None)?; // in the file now
    /// logger.flush()?;                                       // and in the database
    /// assert_eq!(logger.stats().shipping.unwrap().lag_events, 0);
    /// # Ok::<(), audit_runtime::AuditError>(())
    /// ```
    #[cfg(feature = "postgres")]
    pub fn ship_to_postgres(mut self, config: impl Into<crate::ship::ShipConfig>) -> Self {
        self.ship = Some(config.into());
        self
    }

    /// Makes the log tamper-evident: every event carries a link of a hash chain in
    /// `details._audit.chain`, which `auditlog verify` checks (see [`crate::integrity`]).
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, Format, Status};
    /// let dir = tempfile::tempdir()?;
    /// let logger = AuditLogger::builder(dir.path()).format(Format::Json).tamper_evident(true).build()?;
    /// logger.log_event("pause", Status::Success, None, None)?;
    /// let event = audit_runtime::read::open_events(logger.path().unwrap())?.next().unwrap()?;
    /// assert_eq!(event.details["_audit"]["chain"]["seq"], 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tamper_evident(mut self, on: bool) -> Self {
        self.integrity.chain = on;
        self
    }

    /// Signs digests of the chain with the Ed25519 private key in the file at `path` (made
    /// by `auditlog keygen`), into `<log>.digests`; implies
    /// [`tamper_evident`](Self::tamper_evident). Without this, the environment variable
    /// `AUDIT_LOG_SIGNING_KEY` names the key file. A missing or malformed file is an error
    /// of [`build`](Self::build) naming the path (never the key).
    pub fn signing_key(mut self, path: impl AsRef<Path>) -> Self {
        self.integrity.key = Some(path.as_ref().to_owned());
        self
    }

    /// How often digests are signed (default: every 1,000 events or 60 s, whichever comes
    /// first; and on flush and drop). The interval runs from the first event a digest will
    /// cover, and a timer thread signs when it has passed, whether or not more events come.
    pub fn digest_every(mut self, events: u64, interval: std::time::Duration) -> Self {
        self.integrity.every = Some(crate::integrity::DigestEvery {
            events: events.max(1),
            interval,
        });
        self
    }

    /// Which detail keys are redacted in every event, from every entry point (default:
    /// [`Redaction::default`], the [`DEFAULT_REDACTED_KEYS`](crate::DEFAULT_REDACTED_KEYS)
    /// written as `"[REDACTED]"`); see [`Redaction`] for what matches. Keys named in
    /// `#[audited(redact(..))]` are redacted as well.
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, Format, Redaction, Status};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir()?;
    /// let logger = AuditLogger::builder(dir.path())
    ///     .format(Format::Json)
    ///     .redaction(Redaction::default().with_keys(["ssn"]))
    ///     .build()?;
    /// logger.log_event("query_execute", Status::Success,
    ///                  json!({"db": {"password": "hunter2"}, "patient_ssn": "123", "max_tokens": 9}), None)?;
    /// let text = std::fs::read_to_string(logger.path().unwrap())?;
    /// assert!(text.contains(r#"{"db":{"password":"[REDACTED]"},"patient_ssn":"[REDACTED]","max_tokens":9}"#));
    /// assert_eq!(logger.stats().redactions, 1); // events affected
    ///
    /// // Hashed instead: an auditor can still find every event about one value.
    /// let hashed = AuditLogger::builder(dir.path().join("h"))
    ///     .format(Format::Json)
    ///     .redaction(Redaction::default().hashed(true))
    ///     .build()?;
    /// hashed.log_event("hp_change", Status::Success, json!({"token": "t0k"}), None)?;
    /// let key = audit_runtime::HmacKey::from_file(dir.path().join("h/audit_log.hmac-key"))?;
    /// let text = std::fs::read_to_string(hashed.path().unwrap())?;
    /// assert!(text.contains(&key.hash(&json!("t0k"))) && !text.contains("t0k\""));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// The key file for values written as their keyed hash (`#[audited(redact(k, hmac))]`,
    /// [`Redaction::hashed`]); default `audit_log.hmac-key` beside the log
    /// ([`HMAC_KEY_FILE_NAME`](crate::HMAC_KEY_FILE_NAME)). Created (mode `0600`, 32 random
    /// bytes as hex) if missing: when the logger is built if the redaction list is hashed,
    /// else the first time a value is hashed. See [`HmacKey`](crate::HmacKey).
    pub fn hmac_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.hmac_key_file = Some(path.into());
        self
    }

    /// The most bytes one event may take in the file (default 1 MiB,
    /// [`DEFAULT_MAX_EVENT_BYTES`](crate::DEFAULT_MAX_EVENT_BYTES); at least
    /// [`MIN_EVENT_BYTES`](crate::MIN_EVENT_BYTES)). A larger event is written with its
    /// biggest values cut down and marked in `details._audit.truncated`, never dropped; see
    /// the README, "Secrets and size".
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, Format, Status};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir()?;
    /// let logger = AuditLogger::builder(dir.path()).format(Format::Json).max_event_bytes(64 * 1024).build()?;
    /// let ids: Vec<String> = (0..100_000).map(|i| format!("s{i}")).collect();
    /// logger.log_event("tag_add", Status::Success, json!({"tag_name": "defect", "sample_ids": ids}), None)?;
    /// let events: serde_json::Value = serde_json::from_slice(&std::fs::read(logger.path().unwrap())?)?;
    /// let cut = &events[0]["details"]["_audit"]["truncated"]["values"][0];
    /// assert_eq!((cut["path"].as_str(), cut["count"].as_u64()), (Some("details.sample_ids"), Some(100_000)));
    /// assert_eq!(events[0]["details"]["tag_name"], "defect");
    /// assert_eq!(logger.stats().truncations, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.size_limits.max_event_bytes = bytes.max(crate::MIN_EVENT_BYTES);
        self
    }

    /// For the CSV log: the most characters of one event's `details` cell (default 32,767,
    /// what Excel holds in a cell, [`DEFAULT_MAX_CSV_DETAILS_CHARS`](crate::DEFAULT_MAX_CSV_DETAILS_CHARS);
    /// `usize::MAX` for no limit but [`max_event_bytes`](Self::max_event_bytes)). Python's
    /// `csv` module reads cells up to 131,072 characters unless `csv.field_size_limit` is
    /// raised.
    pub fn max_csv_details_chars(mut self, chars: usize) -> Self {
        self.size_limits.max_csv_details_chars = chars.max(crate::MIN_EVENT_BYTES);
        self
    }

    /// Resolves the format and opens (or creates) the log, creating missing directories.
    ///
    /// An existing log is continued. One that does not parse is kept aside
    /// (`audit_log.json.corrupt-<time>`) and every complete event in it is carried over;
    /// see [`AuditLogger::recovery`].
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, Format, Status};
    /// let dir = tempfile::tempdir()?;
    /// let first_run = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
    /// first_run.log_event("evaluation_start", Status::Success, None, None)?;
    /// drop(first_run);
    ///
    /// // The next run (or another process) continues the same file.
    /// let second_run = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
    /// second_run.log_event("pause", Status::Success, None, None)?;
    /// let summary = second_run.get_log_summary()?;
    /// assert_eq!(summary.total_events, 2);
    /// assert_eq!(second_run.recovery(), None); // nothing had to be repaired
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        let key = crate::integrity::writer::signing_key(&self.integrity)?;
        let signing = key.is_some();
        let options = Options {
            durability: self.durability,
            verify: self.verify_on_open,
            file_mode: self.file_mode,
            fail_closed: self.fail_closed,
            chain: self.integrity.chain || key.is_some(),
            size_limits: self.size_limits,
        };
        let every = self.integrity.every.unwrap_or_default();
        let digests = |path: &Path| {
            key.clone()
                .map(|key| crate::integrity::digest::Digests::new(key, path, self.file_mode, every))
        };
        let hmac_key = match &path {
            None => KeySlot::Absent,
            Some(_) => {
                let key_path = self
                    .hmac_key_file
                    .clone()
                    .unwrap_or_else(|| self.root_log_dir.join(crate::HMAC_KEY_FILE_NAME));
                if self.redaction.is_hashed() {
                    KeySlot::Ready(crate::HmacKey::load_or_create(&key_path)?)
                } else {
                    KeySlot::Lazy {
                        path: key_path,
                        key: std::sync::OnceLock::new(),
                    }
                }
            }
        };
        let truth = match (format, path) {
            (Format::Json, Some(path)) => {
                let d = digests(&path);
                let log = json_log::open(path, options)?;
                Truth::Json(match d {
                    Some(d) => log.with_digests(d),
                    None => log,
                })
            }
            (Format::Csv, Some(path)) => {
                let d = digests(&path);
                let log = csv_log::open(path, options)?;
                Truth::Csv(match d {
                    Some(d) => log.with_digests(d),
                    None => log,
                })
            }
            _ => Truth::Disabled,
        };
        #[cfg(feature = "postgres")]
        let shipper = {
            let config = self.ship.or_else(|| {
                std::env::var(crate::ship::POSTGRES_URL_ENV_VAR)
                    .ok()
                    .filter(|url| !url.trim().is_empty())
                    .map(crate::ship::ShipConfig::new)
            });
            let log = match &truth {
                Truth::Json(log) => Some((log.path(), Format::Json)),
                Truth::Csv(log) => Some((log.path(), Format::Csv)),
                _ => None,
            };
            match (config, log) {
                (Some(config), Some((path, format))) => Some(crate::ship::Shipper::start(
                    path,
                    format,
                    &experiment,
                    config,
                )?),
                _ => None,
            }
        };
        #[cfg(not(feature = "postgres"))]
        if std::env::var_os("AUDIT_LOG_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
            tracing::warn!(
                target: "audit",
                "AUDIT_LOG_POSTGRES_URL is set, but this build has no `postgres` feature: \
                 events are not shipped"
            );
        }
        let logger = AuditLogger {
            enabled: !matches!(truth, Truth::Disabled),
            inner: Arc::new(Inner {
                root_log_dir: self.root_log_dir,
                experiment,
                format,
                truth,
                extra: self.extra.0,
                counters: Counters::default(),
                fail_closed: self.fail_closed,
                secrets: Secrets {
                    redaction: self.redaction,
                    key: hmac_key,
                },
                #[cfg(feature = "postgres")]
                shipper,
                digest_timer: std::sync::OnceLock::new(),
            }),
        };
        if signing && logger.enabled {
            let weak = Arc::downgrade(&logger.inner);
            match crate::integrity::timer::DigestTimer::start(weak, Inner::sign_digest_when_due) {
                Ok(timer) => {
                    let _ = logger.inner.digest_timer.set(timer);
                }
                Err(e) => tracing::warn!(
                    target: "audit",
                    error = %e,
                    "cannot start the digest timer: digests are signed every so many events, \
                     on flush and on drop, but not when the interval passes"
                ),
            }
        }
        Ok(logger)
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
            fail_closed: false,
            extra: ExtraSinks::default(),
            #[cfg(feature = "postgres")]
            ship: None,
            integrity: crate::integrity::IntegrityConfig::default(),
            redaction: Redaction::default(),
            hmac_key_file: None,
            size_limits: SizeLimits::default(),
        }
    }

    /// A logger that writes no file: `sink` is its record of truth, keeping every event in
    /// memory with the timestamp it was logged at. For tests that check what was logged
    /// (also through `#[audited(logger = ...)]` and [`crate::init`]); see [`MemorySink`].
    ///
    /// Its [`format`](Self::format) is [`Format::None`] and it has no
    /// [`path`](Self::path), but it is enabled; [`get_log_summary`](Self::get_log_summary)
    /// counts the sink's events and [`stats`](Self::stats) counts as for a file (with no
    /// bytes).
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, MemorySink, Status};
    /// let sink = MemorySink::new();
    /// let logger = AuditLogger::in_memory(sink.clone());
    /// logger.log_event("pause", Status::Success, None, None)?;
    /// assert_eq!(sink.events()[0].action_type, "pause");
    /// assert_eq!(logger.get_log_summary()?.total_events, 1);
    /// # Ok::<(), audit_runtime::AuditError>(())
    /// ```
    pub fn in_memory(sink: MemorySink) -> Self {
        AuditLogger {
            enabled: true,
            inner: Arc::new(Inner {
                root_log_dir: PathBuf::new(),
                experiment: "in-memory".to_owned(),
                format: Format::None,
                truth: Truth::Memory(sink),
                extra: Vec::new(),
                counters: Counters::default(),
                fail_closed: false,
                // No file, so no key file: a key of its own, for this logger's life.
                secrets: Secrets {
                    redaction: Redaction::default(),
                    key: crate::HmacKey::generate().map_or(KeySlot::Absent, KeySlot::Ready),
                },
                #[cfg(feature = "postgres")]
                shipper: None,
                digest_timer: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Logs one event; returns once it is in the file.
    ///
    /// `details` may be `json!({...})`, `None`, or any `Option<Value>`: `None` and `null`
    /// are written as `{}`, an object as it is, and any other value as `{"value": ...}`.
    /// `serde_json::json!` turns NaN into `null` before this sees it; to keep NaN and
    /// infinities, use [`AuditLogger::log_serialize`].
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, MemorySink, Status};
    /// use serde_json::{Value, json};
    /// let sink = MemorySink::new();
    /// let logger = AuditLogger::in_memory(sink.clone());
    /// logger.log_event("hp_change", Status::Success, json!({"learning_rate": 0.01}), None)?;
    /// logger.log_event("pause", Status::Success, None, None)?;
    /// logger.log_event("tag_add", Status::Success, json!(["defect"]), None)?;
    /// logger.log_event("checkpoint_restore", Status::Failed, None, Some("no such checkpoint"))?;
    ///
    /// let events = sink.events();
    /// let details: Vec<Value> = events.iter().map(|e| Value::Object(e.details.clone())).collect();
    /// assert_eq!(details, [json!({"learning_rate": 0.01}), json!({}), json!({"value": ["defect"]}), json!({})]);
    /// assert_eq!(events[3].status, Status::Failed);
    /// assert_eq!(events[3].error.as_deref(), Some("no such checkpoint"));
    /// # Ok::<(), audit_runtime::AuditError>(())
    /// ```
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
        self.log_details(action_type, status, details, error)
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
            event::to_value_within(details, event::MAX_DETAILS_DEPTH).map_err(|source| {
                AuditError::Serialize {
                    what: "details",
                    source,
                }
            })?;
        self.log_details(action_type, status, details_object(Some(value)), error)
            .map(drop)
    }

    /// Logs one event with a ready details object and returns the timestamp it was written
    /// with (`None` for the `none` format, which writes nothing). Adds `details.actor` when
    /// a transport layer set one for this call (see [`crate::actor`]).
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, MemorySink, Status};
    /// let sink = MemorySink::new();
    /// let logger = AuditLogger::in_memory(sink.clone());
    /// let mut details = serde_json::Map::new();
    /// details.insert("checkpoint_id".into(), "ckpt_001".into());
    /// let at = logger.log_details("checkpoint_restore", Status::Success, details, None)?;
    /// assert_eq!(at, Some(sink.events()[0].timestamp));
    /// # Ok::<(), audit_runtime::AuditError>(())
    /// ```
    pub fn log_details(
        &self,
        action_type: &str,
        status: Status,
        details: Map<String, Value>,
        error: Option<&str>,
    ) -> Result<Option<Timestamp>, AuditError> {
        self.submit(Draft::new(action_type, status, details, error))
    }

    /// [`log_details`](Self::log_details) with the redaction of
    /// `#[audited(redact(..), redact(.., hmac))]`: the values of the detail keys in `redact`
    /// are written as `"[REDACTED]"` and those in `hash` as their keyed hash
    /// (`"hmac-sha256:<hex>"`), at any depth, on top of the logger's own
    /// [`Redaction`](crate::Redaction). For instrumentation that is not the attribute, such
    /// as the Python package's decorator.
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, MemorySink, Status};
    /// let sink = MemorySink::new();
    /// let logger = AuditLogger::in_memory(sink.clone());
    /// let details = serde_json::json!({"note": "private", "lr": 0.1});
    /// let details = details.as_object().cloned().unwrap_or_default();
    /// logger.log_details_redacting("hp_change", Status::Success, details, None, &["note"], &[])?;
    /// assert_eq!(sink.events()[0].details["note"], "[REDACTED]");
    /// # Ok::<(), audit_runtime::AuditError>(())
    /// ```
    pub fn log_details_redacting(
        &self,
        action_type: &str,
        status: Status,
        details: Map<String, Value>,
        error: Option<&str>,
        redact: &[&str],
        hash: &[&str],
    ) -> Result<Option<Timestamp>, AuditError> {
        self.submit(Draft {
            redact,
            hash,
            ..Draft::new(action_type, status, details, error)
        })
    }

    /// Fail-closed auditing's check before a call runs, as `#[audited]` makes it, for
    /// instrumentation that is not the attribute (the Python package's decorator): when
    /// `fail_closed` (the call's own setting) or the logger's
    /// [`fail_closed`](AuditLoggerBuilder::fail_closed) holds and the log cannot take
    /// events ([`check_ready`](Self::check_ready)), the call is refused: counted in
    /// [`LoggerStats::events_refused`], warned about, recorded as a `failed` event
    /// (`details.refused: true`; the keys in `redact` redacted) where a sink can take it, and
    /// returned as the error. `Ok` means the call may run.
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, Format};
    /// let dir = tempfile::tempdir()?;
    /// let logger = AuditLogger::builder(dir.path().join("run")).format(Format::Json).build()?;
    /// assert!(logger.admit_call("pause", true, &[]).is_ok());
    /// std::fs::remove_dir_all(dir.path().join("run"))?;
    /// assert!(logger.admit_call("pause", false, &[]).is_ok(), "fail-open");
    /// let refused = logger.admit_call("pause", true, &[]).unwrap_err();
    /// assert!(!refused.ran());
    /// assert_eq!(logger.stats().events_refused, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn admit_call(
        &self,
        action_type: &str,
        fail_closed: bool,
        redact: &[&str],
    ) -> Result<(), AuditUnavailable> {
        if !(fail_closed || self.is_fail_closed()) {
            return Ok(());
        }
        let Err(unavailable) = self.check_ready() else {
            return Ok(());
        };
        let mut details = Map::new();
        details.insert("refused".to_owned(), Value::Bool(true));
        let error = format!("refused: {}", unavailable.reason());
        self.refuse(
            Draft {
                redact,
                ..Draft::new(action_type, Status::Failed, details, Some(&error))
            },
            &unavailable,
        );
        Err(unavailable)
    }

    /// Finishes `draft` (the one pipeline, [`pipeline`]) and writes it; every way of
    /// logging through this logger ends here.
    pub(crate) fn submit(&self, draft: Draft<'_>) -> Result<Option<Timestamp>, AuditError> {
        let action_type = draft.action_type;
        match draft.finish_with(&self.inner.secrets) {
            Ok((mut event, wanted, redacted)) => {
                if redacted > 0 {
                    self.inner.counters.redacted();
                }
                let outage = self.inner.counters.take_outage();
                if let Some(outage) = outage {
                    note_outage(&mut event.details, outage);
                }
                let written = self.write_finished(&event, wanted);
                if let (Err(_), Some(outage)) = (&written, outage) {
                    // Still unreported: the next event that is written says it.
                    self.inner.counters.add_to_outage(outage);
                }
                written
            }
            Err(e) => {
                self.inner.counters.failed(action_type, &e);
                Err(e)
            }
        }
    }

    /// Whether `#[audited]` calls are refused while the log cannot take events
    /// ([`AuditLoggerBuilder::fail_closed`]).
    pub fn is_fail_closed(&self) -> bool {
        self.inner.fail_closed
    }

    /// Whether the log can take an event now, as fail-closed auditing checks before each
    /// call: see [`AuditLoggerBuilder::fail_closed`]. Always `Ok` for the `none` format and
    /// an [in-memory](Self::in_memory) logger.
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, Format};
    /// let dir = tempfile::tempdir()?;
    /// let logger = AuditLogger::builder(dir.path().join("run")).format(Format::Csv).build()?;
    /// assert!(logger.check_ready().is_ok());
    /// std::fs::remove_dir_all(dir.path().join("run"))?;
    /// let unavailable = logger.check_ready().unwrap_err();
    /// assert!(unavailable.reason().contains("is missing"), "{unavailable}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_ready(&self) -> Result<(), AuditUnavailable> {
        let Some(path) = self.path() else {
            return Ok(());
        };
        crate::storage::preflight::check(path, self.inner.counters.in_outage())
            .map_err(|reason| AuditUnavailable::refused(Some(path), reason))
    }

    /// Counts and reports a call refused because the log cannot take events, and records the
    /// refusal as a failed event wherever a sink can take it: the log (the fault may have
    /// just cleared), else each extra sink (which may be the only place it can be seen).
    pub(crate) fn refuse(&self, draft: Draft<'_>, unavailable: &AuditUnavailable) {
        self.inner
            .counters
            .refused(draft.action_type, unavailable.reason());
        let Ok((event, wanted, _)) = draft.finish_with(&self.inner.secrets) else {
            return;
        };
        let Some(truth) = self.inner.truth.sink() else {
            return;
        };
        let at = match truth.write(&event, wanted) {
            Ok(at) => at,
            Err(_) => wanted,
        };
        for sink in &self.inner.extra {
            if let Err(e) = sink.write(&event, at) {
                self.inner.counters.sink_failed(event.action_type, &e);
            }
        }
    }

    /// The error for a call whose body ran but whose event `error` kept out of the log
    /// ([`AuditUnavailable::ran`] is true): what a fail-closed call returns instead of its
    /// success.
    pub fn not_recorded(&self, error: &AuditError) -> AuditUnavailable {
        AuditUnavailable::not_recorded(self.path(), error.full_message())
    }

    /// Writes a finished event to the record of truth, then to the extra sinks with the
    /// timestamp it got there, counting the outcome.
    pub(crate) fn write_finished(
        &self,
        event: &FinishedEvent<'_>,
        wanted: Timestamp,
    ) -> Result<Option<Timestamp>, AuditError> {
        let Some(truth) = self.inner.truth.sink() else {
            return Ok(None);
        };
        let at = match truth.write(event, wanted) {
            Ok(at) => at,
            Err(e) => {
                self.inner.counters.failed(event.action_type, &e);
                self.inner.counters.lost();
                return Err(e);
            }
        };
        self.inner.counters.written();
        for sink in &self.inner.extra {
            if let Err(e) = sink.write(event, at) {
                self.inner.counters.sink_failed(event.action_type, &e);
            }
        }
        Ok(Some(at))
    }

    /// Counts the events in the log by action type and status (the spec's
    /// `get_log_summary`), streaming the file; an [in-memory](Self::in_memory) logger counts
    /// its sink's events. Empty for the `none` format.
    pub fn get_log_summary(&self) -> Result<LogSummary, AuditError> {
        match &self.inner.truth {
            Truth::Disabled => Ok(LogSummary::default()),
            Truth::Json(log) => log.summary(),
            Truth::Csv(log) => log.summary(),
            Truth::Memory(sink) => {
                let mut summary = LogSummary::default();
                sink.events().iter().for_each(|e| summary.add(e));
                Ok(summary)
            }
        }
    }

    /// Makes every event logged so far durable (`fdatasync`), in the file and then in each
    /// extra sink ([`Sink::flush`]). With [`Durability::Synced`] each call to log already
    /// does for the file. Only the file's error is returned; an extra sink's is counted and
    /// reported as its failed writes are (see [`AuditLoggerBuilder::sink`]).
    ///
    /// A logger that ships to PostgreSQL (feature `postgres`,
    /// [`AuditLoggerBuilder::ship_to_postgres`]) then waits until every event logged before
    /// the call is in the database, at most the shipper's `flush_timeout` (30 s by default),
    /// and returns [`AuditError::Database`] if it is not (the events stay in the file and
    /// are shipped later).
    pub fn flush(&self) -> Result<(), AuditError> {
        if let Some(truth) = self.inner.truth.sink() {
            truth.flush()?;
        }
        for sink in &self.inner.extra {
            if let Err(e) = sink.flush() {
                self.inner.counters.sink_failed("flush", &e);
            }
        }
        #[cfg(feature = "postgres")]
        if let Some(shipper) = &self.inner.shipper {
            shipper.flush()?;
        }
        Ok(())
    }

    /// Whether events are recorded anywhere (false for the `none` format, true for an
    /// [in-memory](Self::in_memory) logger).
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The format in use.
    pub fn format(&self) -> Format {
        self.inner.format
    }

    /// The log file, or `None` for the `none` format and an [in-memory](Self::in_memory)
    /// logger.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.truth {
            Truth::Disabled | Truth::Memory(_) => None,
            Truth::Json(log) => Some(log.path()),
            Truth::Csv(log) => Some(log.path()),
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
        let (bytes, recoveries) = match &self.inner.truth {
            Truth::Disabled | Truth::Memory(_) => (0, 0),
            Truth::Json(log) => log.counts(),
            Truth::Csv(log) => log.counts(),
        };
        let mut stats = self.inner.counters.snapshot(bytes, recoveries);
        stats.truncations = match &self.inner.truth {
            Truth::Disabled | Truth::Memory(_) => 0,
            Truth::Json(log) => log.truncations(),
            Truth::Csv(log) => log.truncations(),
        };
        #[cfg(feature = "postgres")]
        {
            stats.shipping = self.inner.shipper.as_ref().map(|s| s.stats());
        }
        stats
    }

    /// Writes [`stats`](Self::stats) to `path` as a small JSON file, replacing it
    /// atomically (a new file made durable, then renamed over the old one), so that a reader
    /// or a crash at any moment sees the previous snapshot or this one, never a part. The
    /// file is created with mode `0600`, like the log.
    ///
    /// Its layout (version [`STATS_FILE_VERSION`]): `{"format": "audited-logger-stats",
    /// "version": 1, "written_at": "<RFC 3339>", "pid": <this process>, "log": "<the log
    /// file>" or null, "stats": {...}}`, with `"stats"` as [`LoggerStats::to_json`] gives
    /// it. [`STATS_FILE_NAME`] beside the log is where the example server writes it and
    /// `auditlog stats` looks.
    ///
    /// ```
    /// use audit_runtime::{AuditLogger, Format, Status, STATS_FILE_NAME};
    /// let dir = tempfile::tempdir()?;
    /// let logger = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
    /// logger.log_event("pause", Status::Success, None, None)?;
    /// let path = dir.path().join(STATS_FILE_NAME);
    /// logger.write_stats_file(&path)?;
    /// let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    /// assert_eq!(file["format"], "audited-logger-stats");
    /// assert_eq!(file["stats"]["events_written"], 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_stats_file(&self, path: impl AsRef<Path>) -> Result<(), AuditError> {
        let path = path.as_ref();
        let document = serde_json::json!({
            "format": STATS_FILE_FORMAT,
            "version": STATS_FILE_VERSION,
            "written_at": Timestamp::now().to_string(),
            "pid": std::process::id(),
            "log": self.path().map(|p| p.to_string_lossy().into_owned()),
            "stats": self.stats().to_json(),
        });
        let mut bytes =
            serde_json::to_vec_pretty(&document).map_err(|source| AuditError::Serialize {
                what: "the stats file",
                source,
            })?;
        bytes.push(b'\n');
        crate::storage::fs::replace_atomically(path, DEFAULT_FILE_MODE, |file| {
            std::io::Write::write_all(file, &bytes)
        })
        .map(drop)
    }

    /// The latest thing done to the log that was not a plain append, if anything: an
    /// existing log rewritten into this crate's layout or salvaged after damage (when it was
    /// opened, or later, when another program had changed it), or a torn write of a killed
    /// writer cleared. See [`AuditLogger::recoveries`] for all of them, and [`Recovery`] for
    /// an example.
    pub fn recovery(&self) -> Option<Recovery> {
        self.recoveries().pop()
    }

    /// Every recovery since the logger was opened, oldest first (the latest 32). Each is
    /// also reported once through `tracing` (target `audit`, level WARN) when it happens.
    pub fn recoveries(&self) -> Vec<Recovery> {
        match &self.inner.truth {
            Truth::Disabled | Truth::Memory(_) => Vec::new(),
            Truth::Json(log) => log.recoveries(),
            Truth::Csv(log) => log.recoveries(),
        }
    }
}

/// Adds `details._audit.outage` (see [`AuditLoggerBuilder::fail_closed`]); a caller's own
/// `_audit` that is not an object is left alone, and the note goes under `_audit_outage`.
fn note_outage(details: &mut Map<String, Value>, outage: stats::Outage) {
    let note = outage.to_value();
    match details
        .entry(event::RESERVED_DETAILS_KEY)
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(reserved) => {
            reserved.insert("outage".to_owned(), note);
        }
        _ => {
            details.insert(format!("{}_outage", event::RESERVED_DETAILS_KEY), note);
        }
    }
}
