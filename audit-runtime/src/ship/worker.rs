//! The shipping loop: read a batch after the cursor, insert it, commit, save the cursor;
//! when the database is away, keep the batch, retry with backoff and say so through
//! `tracing`; nothing is dropped, since the log holds every event.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use super::db::{self, Db, DbUrl};
use super::source::{Batch, Next, Origin, Source};
use super::{ShipConfig, ShipStats, cursor};
use crate::logger::LastError;
use crate::{AuditError, Format, Timestamp};

/// The first pause after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between two attempts while the database is away: how long after it is
/// back shipping resumes at the latest.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The pause before looking again at a log caught mid-rewrite.
pub(crate) const LATER: Duration = Duration::from_millis(10);
/// While failures go on, one warning per this long (with how many failures it stands for).
const WARN_EVERY: Duration = Duration::from_secs(30);

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Shipped a full batch: there may be more.
    More,
    /// Everything the log held when this step read it is in the database.
    CaughtUp,
    /// The log could not be read whole just now (caught mid-rewrite): try again soon.
    Later,
}

/// State shared between the shipping thread and the logger (stats, flush, stop).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) stop: AtomicBool,
    /// Flushes asked for (a generation number).
    pub(crate) requested: AtomicU64,
    pub(crate) state: Mutex<State>,
    /// Signalled when the state changes (a flush waits on it).
    pub(crate) changed: Condvar,
    /// The worker's sleep, cut short by a flush or a stop.
    pub(crate) wake: Mutex<bool>,
    pub(crate) woken: Condvar,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct State {
    /// The latest flush generation whose events are all in the database.
    pub(crate) caught_up: u64,
    pub(crate) stats: ShipStats,
    /// The oldest event read but not yet in the database.
    pub(crate) oldest_unshipped: Option<Timestamp>,
    /// When the last event shipped was logged.
    pub(crate) last_shipped: Option<Timestamp>,
    /// Whether the worker has ended (it will not catch up any more).
    pub(crate) ended: bool,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding it leaves plain counters behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn wake(&self) {
        *self.wake.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.woken.notify_all();
    }

    /// Sleeps up to `pause`, or until woken.
    fn sleep(&self, pause: Duration) {
        let mut woken = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = Instant::now() + pause;
        while !*woken && !self.stop.load(Ordering::SeqCst) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            woken = match self.woken.wait_timeout(woken, left) {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        }
        *woken = false;
    }
}

/// Ships one log to one database.
pub(crate) struct Worker {
    source: Source,
    cursor_path: PathBuf,
    url: DbUrl,
    runtime: Runtime,
    db: Option<Db>,
    pending: Option<Batch>,
    batch_size: usize,
    one_by_one: bool,
    pub(crate) shared: Arc<Shared>,
    /// The log whose cursor was checked against the database on this connection.
    checked: Option<String>,
    failures_unreported: u64,
    warned_at: Option<Instant>,
    failing_since: Option<Instant>,
}

impl Worker {
    /// A worker for the log at `path`, from its cursor.
    pub(crate) fn new(
        path: &Path,
        format: Format,
        config: &ShipConfig,
        experiment: String,
    ) -> Result<Worker, AuditError> {
        let url = DbUrl::parse(&config.url)?;
        let runtime = db::runtime(&url)?;
        let cursor_path = cursor::path_for(path, url.shown());
        let position = cursor::load(&cursor_path);
        let root = path
            .parent()
            .map(|p| {
                let p = if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                };
                std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
            })
            .unwrap_or_default();
        let origin = Origin {
            host: config.host.clone().unwrap_or_else(super::hostname),
            root_log_dir: root.to_string_lossy().into_owned(),
            experiment,
        };
        let shared = Arc::new(Shared::default());
        {
            let mut state = shared.lock();
            state.stats.database = url.shown().to_owned();
            state.stats.shipped_seq = position.seq;
            state.stats.log_id = position.log_id.clone();
        }
        Ok(Worker {
            source: Source::new(path, format, origin, position),
            cursor_path,
            url,
            runtime,
            db: None,
            pending: None,
            batch_size: config.batch_size.max(1),
            one_by_one: config.one_by_one,
            shared,
            checked: None,
            failures_unreported: 0,
            warned_at: None,
            failing_since: None,
        })
    }

    /// The database, shown without its password.
    pub(crate) fn url(&self) -> &DbUrl {
        &self.url
    }

    /// Connects (and brings the schema up to date, and checks the cursor against what the
    /// database holds) unless connected.
    pub(crate) fn connect(&mut self) -> Result<(), AuditError> {
        if self.db.as_ref().is_some_and(|db| !db.is_closed()) {
            return Ok(());
        }
        self.db = None;
        self.checked = None;
        let url = self.url.clone();
        let db = self.runtime.block_on(async {
            let mut db = Db::connect(&url).await?;
            db.migrate().await?;
            Ok::<Db, AuditError>(db)
        })?;
        self.db = Some(db);
        self.shared.lock().stats.connected = true;
        self.check_cursor()
    }

    /// One batch: read it (unless one is waiting from a failed attempt), insert it, commit,
    /// save the cursor.
    pub(crate) fn step(&mut self) -> Result<Step, AuditError> {
        // Read before connecting: reading needs no database, and the lag is then known also
        // while it is away.
        let mut read_now = false;
        if self.pending.is_none() {
            read_now = true;
            match self.source.next_batch(self.batch_size)? {
                Next::Batch(batch) => {
                    self.shared.lock().oldest_unshipped = batch.events.first().map(|e| e.at);
                    self.pending = Some(batch);
                }
                Next::CaughtUp => {
                    self.publish_lag();
                    return Ok(Step::CaughtUp);
                }
                Next::Later => {
                    self.publish_lag();
                    return Ok(Step::Later);
                }
            }
        }
        self.publish_lag();
        self.connect()?;
        let Some(batch) = &self.pending else {
            return Ok(Step::More);
        };
        let Some(db) = &self.db else {
            return Ok(Step::More);
        };
        let started = Instant::now();
        let inserted = if self.one_by_one {
            self.runtime
                .block_on(db.insert_one_by_one(&batch.log, &batch.events))?
        } else {
            self.runtime
                .block_on(db.insert_batch(&batch.log, &batch.events))?
        };
        cursor::save(&self.cursor_path, self.url.shown(), &batch.after)?;
        tracing::trace!(target: "audit", events = batch.events.len(), inserted,
            elapsed_us = started.elapsed().as_micros() as u64, "shipped a batch");
        let caught_up = read_now && batch.caught_up;
        {
            let mut state = self.shared.lock();
            state.stats.events_sent += batch.events.len() as u64;
            state.stats.events_inserted += inserted;
            state.stats.shipped_seq = batch.after.seq;
            state.stats.log_id = batch.after.log_id.clone();
            state.oldest_unshipped = None;
            state.last_shipped = batch.after.last.map(|m| m.timestamp);
        }
        self.pending = None;
        self.publish_lag();
        Ok(if caught_up {
            Step::CaughtUp
        } else {
            Step::More
        })
    }

    /// Once per connection and log: a cursor ahead of the database (restored from a backup,
    /// emptied by hand) would skip events forever; ship from the start again instead (rows
    /// that are there are not sent twice).
    fn check_cursor(&mut self) -> Result<(), AuditError> {
        let position = self.source.position();
        let Some(log_id) = position.log_id.clone() else {
            return Ok(());
        };
        if self.checked.as_deref() == Some(log_id.as_str()) || position.seq == 0 {
            return Ok(());
        }
        let Some(db) = &self.db else {
            return Ok(());
        };
        let stored = self.runtime.block_on(db.shipped_up_to(&log_id))?;
        let committed = self.shared.lock().stats.shipped_seq;
        if u64::try_from(stored).unwrap_or(0) < committed {
            tracing::warn!(target: "audit", url = %self.url, log_id = %log_id,
                "the database holds {stored} events of this log, the cursor says {committed} \
                 were shipped (restored or emptied?); shipping the log again from its start");
            self.pending = None;
            self.source.restart_from_scratch();
            self.shared.lock().stats.shipped_seq = 0;
        }
        self.checked = Some(log_id);
        Ok(())
    }

    fn publish_lag(&self) {
        let newest = self.source.newest_seq();
        let mut state = self.shared.lock();
        let shipped = state.stats.shipped_seq;
        state.stats.lag_events = newest.saturating_sub(shipped);
        // The oldest event waiting, when a batch is read; between batches, the last one
        // shipped, which was logged just before it (an upper bound, off by that gap).
        let since = |at: Timestamp| {
            Duration::from_micros(
                u64::try_from(Timestamp::now().as_micros() - at.as_micros()).unwrap_or(0),
            )
        };
        state.stats.lag = match (state.oldest_unshipped, state.last_shipped) {
            (Some(at), _) | (None, Some(at)) => since(at),
            (None, None) => Duration::ZERO,
        };
        if state.stats.lag_events == 0 {
            state.stats.lag = Duration::ZERO;
        }
    }

    /// Records a failed step: the connection is dropped (the next step reconnects), the
    /// error is kept for the stats and warned about, at most every [`WARN_EVERY`].
    pub(crate) fn failed(&mut self, error: &AuditError) {
        self.db = None;
        self.checked = None;
        {
            let mut state = self.shared.lock();
            state.stats.connected = false;
            state.stats.failures += 1;
            state.stats.last_error = Some(LastError {
                at: Timestamp::now(),
                message: error.full_message(),
            });
        }
        self.failing_since.get_or_insert_with(Instant::now);
        let due = self.warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if !due {
            self.failures_unreported += 1;
            return;
        }
        let before = std::mem::take(&mut self.failures_unreported);
        self.warned_at = Some(Instant::now());
        let behind = self.shared.lock().stats.lag_events;
        tracing::warn!(target: "audit", url = %self.url,
            "shipping audit events paused ({behind} events waiting in the log, none lost; \
             retrying every {} s at most): {error:?}{}",
            MAX_BACKOFF.as_secs(),
            if before > 0 { format!(" ({before} more failures since the last warning)") } else { String::new() });
    }

    /// Records a successful step after failures.
    fn recovered(&mut self) {
        if let Some(since) = self.failing_since.take() {
            self.warned_at = None;
            self.failures_unreported = 0;
            tracing::info!(target: "audit", url = %self.url,
                "shipping audit events resumed after {:.1} s", since.elapsed().as_secs_f64());
        }
    }

    /// Ships until stopped: what the in-process shipper's thread and `auditlog ship --follow`
    /// run. Failures are retried with backoff.
    pub(crate) fn run(&mut self, poll: Duration) {
        let mut backoff = FIRST_BACKOFF;
        while !self.shared.stop.load(Ordering::SeqCst) {
            let generation = self.shared.requested.load(Ordering::SeqCst);
            match self.step() {
                Ok(step) => {
                    backoff = FIRST_BACKOFF;
                    self.recovered();
                    match step {
                        Step::CaughtUp => {
                            let mut state = self.shared.lock();
                            state.caught_up = state.caught_up.max(generation);
                            drop(state);
                            self.shared.changed.notify_all();
                            self.shared.sleep(poll);
                        }
                        Step::Later => std::thread::sleep(LATER),
                        Step::More => {}
                    }
                }
                Err(error) => {
                    self.failed(&error);
                    self.shared.changed.notify_all();
                    self.shared.sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        self.shared.lock().ended = true;
        self.shared.changed.notify_all();
    }
}
