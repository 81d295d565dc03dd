//! Shipping every event into PostgreSQL, exactly once, with the log file as the write-ahead
//! log; and reading the events of every shipped log back (feature `postgres`).
//!
//! The file stays the record of truth: `log_event` writes it and returns, as without
//! shipping. A shipper reads the events after its cursor (a small file beside the log,
//! written crash-safely after each committed batch) and inserts them in batches, one
//! statement and one transaction each. Each row's key is `(log_id, seq)`: the log's id,
//! derived from the host, the log's directory and its oldest event, and the event's number
//! in the log, oldest first. A batch sent again after a crash (of the shipper between its
//! commit and its cursor, or of the database) is a no-op (`ON CONFLICT DO NOTHING`), so after
//! recovery every event is in the table exactly once.
//!
//! Two ways to run it:
//!
//! - in the process that logs: [`AuditLoggerBuilder::ship_to_postgres`](crate::AuditLoggerBuilder::ship_to_postgres)
//!   (or the `AUDIT_LOG_POSTGRES_URL` environment variable, [`POSTGRES_URL_ENV_VAR`]) starts a
//!   [`Shipper`] thread; `log_event` never waits for it, and memory is one batch.
//!   [`AuditLogger::flush`](crate::AuditLogger::flush) waits until everything logged before
//!   it is in the database (at most [`ShipConfig::flush_timeout`]);
//! - beside a server that cannot be changed (also one running the Python reference):
//!   `auditlog ship PATH --db URL [--follow]`, built on [`ship_log`].
//!
//! The table, created on first use by a versioned migration (`audit_schema_migrations`
//! records it):
//!
//! ```sql
//! CREATE TABLE audit_events (
//!     log_id text, seq bigint,                    -- PRIMARY KEY (log_id, seq)
//!     host text, root_log_dir text, experiment text,
//!     "timestamp" timestamptz, action_type text, status text, details jsonb, error text,
//!     actor text, request_id text,                -- from details.actor / details.request_id
//!     shipped_at timestamptz DEFAULT now());
//! -- indexes: ("timestamp"), (action_type, "timestamp"), (actor, "timestamp")
//! ```
//!
//! [`Database`] reads them back, filters pushed down to SQL, streaming (what
//! `auditlog summary|query|export --db` use).

mod cursor;
mod db;
mod query;
mod source;
mod worker;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use db::{DbUrl, LogIdentity, SCHEMA_VERSION, redact};
pub use query::{Database, DbSummary, EventQuery};

use self::worker::{Shared, Step, Worker};
use crate::logger::LastError;
use crate::{AuditError, Format};

/// The environment variable that turns shipping on for every logger built without an
/// explicit [`AuditLoggerBuilder::ship_to_postgres`](crate::AuditLoggerBuilder::ship_to_postgres):
/// the database's URL.
pub const POSTGRES_URL_ENV_VAR: &str = "AUDIT_LOG_POSTGRES_URL";

/// Where and how to ship: the database's URL and the shipper's settings.
///
/// ```
/// use std::time::Duration;
/// use audit_runtime::ship::ShipConfig;
/// let config = ShipConfig::new("postgres://audit:secret@db.internal/audit")
///     .host("gpu-node-7")
///     .batch_size(500)
///     .flush_timeout(Duration::from_secs(5));
/// assert_eq!(format!("{config:?}").contains("secret"), false);
/// ```
#[derive(Clone)]
pub struct ShipConfig {
    pub(crate) url: String,
    pub(crate) host: Option<String>,
    pub(crate) experiment: Option<String>,
    pub(crate) batch_size: usize,
    pub(crate) poll_interval: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) one_by_one: bool,
}

impl std::fmt::Debug for ShipConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipConfig")
            .field("url", &redact(&self.url))
            .field("host", &self.host)
            .field("experiment", &self.experiment)
            .field("batch_size", &self.batch_size)
            .field("poll_interval", &self.poll_interval)
            .field("flush_timeout", &self.flush_timeout)
            .finish()
    }
}

impl ShipConfig {
    /// Ships to the database at `url`: `postgres://user:password@host:port/dbname` or
    /// libpq's `host=… user=… dbname=…` form. Messages never show the password.
    pub fn new(url: impl Into<String>) -> ShipConfig {
        ShipConfig {
            url: url.into(),
            host: None,
            experiment: None,
            batch_size: 1000,
            poll_interval: Duration::from_millis(50),
            flush_timeout: Duration::from_secs(30),
            one_by_one: false,
        }
    }

    /// The `host` column (default: the machine's host name). Part of the log's id.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The `experiment` column (default: the logger's experiment name, or for
    /// [`ship_log`] the log directory's name).
    pub fn experiment(mut self, experiment: impl Into<String>) -> Self {
        self.experiment = Some(experiment.into());
        self
    }

    /// Events per insert (default 1000): the most the shipper holds in memory.
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch_size = events.max(1);
        self
    }

    /// How often the shipper looks at the log when it has shipped everything (default
    /// 50 ms): the delay before a new event is sent.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long [`AuditLogger::flush`](crate::AuditLogger::flush) waits for the events
    /// logged before it to be in the database (default 30 s); past it, flush returns an
    /// error saying how far behind the shipper is (the events are still shipped later).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Inserts one event per statement instead of batches: only to measure what batching
    /// saves (the benchmark).
    #[doc(hidden)]
    pub fn one_insert_per_event(mut self, yes: bool) -> Self {
        self.one_by_one = yes;
        self
    }
}

impl From<&str> for ShipConfig {
    fn from(url: &str) -> Self {
        ShipConfig::new(url)
    }
}

impl From<String> for ShipConfig {
    fn from(url: String) -> Self {
        ShipConfig::new(url)
    }
}

/// How a shipper is doing; in [`LoggerStats::shipping`](crate::LoggerStats::shipping) for
/// a logger that ships, or from [`Shipper::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShipStats {
    /// The database, without its password.
    pub database: String,
    /// The id of the log being shipped (`None` until its first event).
    pub log_id: Option<String>,
    /// The log's events that are in the database (the cursor: the newest shipped is this
    /// number, counting from the oldest).
    pub shipped_seq: u64,
    /// Events sent by this shipper since it started.
    pub events_sent: u64,
    /// Of those, events that were new to the database (the others were there already: sent
    /// again after a crash).
    pub events_inserted: u64,
    /// Events in the log not yet in the database, as of the shipper's last look.
    pub lag_events: u64,
    /// How long ago the oldest event not yet in the database was logged (zero when none is
    /// waiting; between two batches, measured from the last event shipped, so at most that
    /// much more).
    pub lag: Duration,
    /// Whether the shipper is connected.
    pub connected: bool,
    /// Failed attempts (connecting, inserting) since it started; each is retried.
    pub failures: u64,
    /// The latest failure.
    pub last_error: Option<LastError>,
}

/// A background thread that ships one log to PostgreSQL until it is dropped; what
/// [`AuditLoggerBuilder::ship_to_postgres`](crate::AuditLoggerBuilder::ship_to_postgres)
/// starts.
pub struct Shipper {
    shared: Arc<Shared>,
    url: DbUrl,
    flush_timeout: Duration,
    /// In a mutex so that a logger holding the shipper stays `RefUnwindSafe` (it is used
    /// inside `catch_unwind`); only `drop` takes it.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Shipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shipper").field("url", &self.url).finish()
    }
}

impl Shipper {
    /// Starts shipping the log at `path` (read as `format`), with `experiment` as the
    /// `experiment` column unless `config` names one. Errors only when the URL does not
    /// parse: the database need not be up (the shipper retries, and the log keeps every
    /// event meanwhile).
    pub fn start(
        path: &Path,
        format: Format,
        experiment: &str,
        config: ShipConfig,
    ) -> Result<Shipper, AuditError> {
        let experiment = config
            .experiment
            .clone()
            .unwrap_or_else(|| experiment.to_owned());
        let mut worker = Worker::new(path, format, &config, experiment)?;
        let shared = worker.shared.clone();
        let url = worker.url().clone();
        let poll = config.poll_interval;
        let thread = std::thread::Builder::new()
            .name("audit-shipper".to_owned())
            .spawn(move || worker.run(poll))
            .map_err(|e| url.error("start the shipper for", e))?;
        Ok(Shipper {
            shared,
            url,
            flush_timeout: config.flush_timeout,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The database, without its password.
    pub fn url(&self) -> &str {
        self.url.shown()
    }

    /// How the shipper is doing.
    pub fn stats(&self) -> ShipStats {
        self.shared.lock().stats.clone()
    }

    /// Waits until every event in the log when this was called is in the database, at most
    /// `timeout`. An error says how far behind the shipper is and why (the last failure);
    /// the events are still shipped afterwards.
    pub fn wait_shipped(&self, timeout: Duration) -> Result<(), AuditError> {
        let generation = self.shared.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.shared.wake();
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if state.caught_up >= generation {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || state.ended {
                let why = match &state.stats.last_error {
                    Some(last) => format!(
                        "{} events are not shipped yet; the last failure: {}",
                        state.stats.lag_events, last.message
                    ),
                    None => format!("{} events are not shipped yet", state.stats.lag_events),
                };
                return Err(self.url.error(
                    format!(
                        "ship every event logged so far within {:.1} s to",
                        timeout.as_secs_f64()
                    ),
                    why,
                ));
            }
            state = match self.shared.changed.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// [`wait_shipped`](Self::wait_shipped) with the configured
    /// [`ShipConfig::flush_timeout`].
    pub fn flush(&self) -> Result<(), AuditError> {
        self.wait_shipped(self.flush_timeout)
    }
}

impl Drop for Shipper {
    /// Stops the thread after the step it is in (a batch it committed is in its cursor; one
    /// it did not is sent again by the next shipper). Waits a moment for it, not for a
    /// database that does not answer.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake();
        let taken = self
            .thread
            .get_mut()
            .map_or_else(|p| p.into_inner().take(), Option::take);
        let Some(thread) = taken else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

/// What [`ship_log`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShipReport {
    /// How it stands now.
    pub stats: ShipStats,
}

/// Ships the log at `path` (read as `format`) from its cursor: everything it holds, then
/// returns; or, with `follow`, goes on shipping new events until `stop` is set. The first
/// connection must succeed (a wrong URL or a refused login is an error at once, naming the
/// URL without its password). With `follow`, later failures are retried with backoff, as
/// the in-process shipper does; without, a failure ends it with the error (run it again: it
/// goes on from its cursor, and nothing is sent twice). `experiment` is the `experiment`
/// column unless `config` names one.
pub fn ship_log(
    path: &Path,
    format: Format,
    experiment: &str,
    config: ShipConfig,
    follow: bool,
    stop: &AtomicBool,
) -> Result<ShipReport, AuditError> {
    let experiment = config
        .experiment
        .clone()
        .unwrap_or_else(|| experiment.to_owned());
    let mut worker = Worker::new(path, format, &config, experiment)?;
    worker.connect()?;
    let shared = worker.shared.clone();
    if follow {
        // The worker's loop ends when its own flag is set; mirror the caller's.
        let watcher_shared = shared.clone();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) && !watcher_shared.lock().ended {
                    std::thread::sleep(Duration::from_millis(50));
                }
                watcher_shared.stop.store(true, Ordering::SeqCst);
                watcher_shared.wake();
            });
            worker.run(config.poll_interval);
        });
    } else {
        loop {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            match worker.step() {
                Ok(Step::CaughtUp) => break,
                Ok(Step::More) => {}
                Ok(Step::Later) => std::thread::sleep(worker::LATER),
                Err(error) => return Err(error),
            }
        }
    }
    let stats = shared.lock().stats.clone();
    Ok(ShipReport { stats })
}

/// The machine's host name (`unknown-host` if it cannot be had).
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
