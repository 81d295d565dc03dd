//! What the JSON and CSV writers share: the path, the cross-process lock, the per-process
//! state behind a mutex, the monotonic clock, recovery reports, and group commit for the
//! durable mode. Each format adds its own `append` and `summary` on top (`json`, `csv`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::event::MonotonicClock;
use crate::policy::size_cap::SizeLimits;
use crate::storage::commit::GroupCommit;
use crate::storage::fs::{self, FileId, LockFile, WatchedPath};
use crate::storage::recovery::Recovery;
use crate::storage::watch::{DirWatch, FULL_CHECK_EVERY};
use crate::{AuditError, Durability, Timestamp};
use std::time::Duration;

/// How far past the wall clock an event's timestamp may be pushed (to stay after the newest
/// event in the file) before the event also records the real time, in `details._audit`.
/// Bumps of a few microseconds happen all the time (two events in one microsecond, a clock
/// stepped back a little); a bump of more than this means the file holds a timestamp from
/// the future (a clock that jumped, or an edit), and every later event would otherwise
/// silently carry that time too.
pub const CLOCK_SKEW_TOLERANCE_MICROS: i64 = 1_000_000;

/// The log's name among the watched names of its directory.
const WATCH_LOG: usize = 0;
/// The lock file's.
const WATCH_LOCK: usize = 1;

/// How many recovery reports a log keeps for [`crate::AuditLogger::recoveries`].
const KEPT_RECOVERIES: usize = 32;

/// Per-process state of an open log: at least the handle events are written to.
pub(crate) trait OpenState {
    /// The file that holds every event written so far.
    fn file(&self) -> &Arc<File>;
    /// Its identity, compared with the path's before every write.
    fn id(&self) -> FileId;
}

/// What opening or reloading a log needs besides the path.
pub(crate) struct Ctx<'a> {
    pub(crate) path: &'a Path,
    pub(crate) clock: &'a MonotonicClock,
    /// The mode of files created anew (a rewrite keeps the mode of the file it replaces).
    pub(crate) file_mode: u32,
}

/// How a log is opened, from the builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) durability: Durability,
    pub(crate) verify: bool,
    pub(crate) file_mode: u32,
    /// Fail-closed: every event looks the log's path up (no 100 ms of trusting the
    /// directory watch), and a removed log directory is not made again.
    pub(crate) fail_closed: bool,
    /// Whether every event gets a link of the hash chain (`crate::integrity`).
    pub(crate) chain: bool,
    /// The size cap per event (`crate::policy::size_cap`).
    pub(crate) size_limits: SizeLimits,
}

/// An open log file of either format.
#[derive(Debug)]
pub(crate) struct LogFile<S> {
    pub(crate) path: PathBuf,
    watched: WatchedPath,
    /// The log's directory, watched for the log's and the lock's names ([`WATCH_LOG`],
    /// [`WATCH_LOCK`]).
    watch: Arc<DirWatch>,
    pub(crate) lock: LockFile,
    state: Mutex<S>,
    pub(crate) clock: MonotonicClock,
    durability: Durability,
    file_mode: u32,
    commit: GroupCommit,
    recoveries: Mutex<Vec<Recovery>>,
    /// Every recovery, also those no longer kept in `recoveries`.
    recovered: AtomicU64,
    bytes_written: AtomicU64,
    /// Threads waiting for `state` to write an event; see [`LogFile::state_for_event`].
    queued: AtomicUsize,
    /// Whether the last event's timestamp had to be pushed past the wall clock by more than
    /// [`CLOCK_SKEW_TOLERANCE_MICROS`] (warned about once per episode, not per event).
    skewed: AtomicBool,
    /// Whether every event gets a link of the hash chain.
    pub(crate) chain: bool,
    /// The signer of digests, with a signing key.
    pub(crate) digests: Option<crate::integrity::digest::Digests>,
    pub(crate) size_limits: SizeLimits,
    /// Events written cut down to the size cap.
    truncated: AtomicU64,
}

/// The timestamp an event gets under the lock, and the wall clock when that is far behind.
pub(crate) struct Stamp {
    pub(crate) timestamp: Timestamp,
    /// Set when `timestamp` is more than the tolerance ahead of the real time.
    pub(crate) wall_clock: Option<Timestamp>,
}

impl<S: OpenState> LogFile<S> {
    /// Takes the lock, clears temporary files a crashed writer left, and lets `load` open,
    /// create or recover the log.
    pub(crate) fn open(
        path: PathBuf,
        options: Options,
        load: impl FnOnce(&Ctx<'_>) -> Result<(S, Option<Recovery>), AuditError>,
    ) -> Result<Self, AuditError> {
        let lock_path = fs::lock_path(&path);
        // Before anything at either path is looked at, so that no change after that goes
        // unnoticed (every name counts as changed at first).
        let trusted_for = if options.fail_closed {
            Duration::ZERO
        } else {
            FULL_CHECK_EVERY
        };
        let watch = Arc::new(DirWatch::trusted_for(
            path.parent().unwrap_or(Path::new(".")),
            &[fs::file_name_os(&path), fs::file_name_os(&lock_path)],
            trusted_for,
        ));
        let lock = LockFile::open(
            lock_path,
            options.file_mode,
            Arc::clone(&watch),
            WATCH_LOCK,
            !options.fail_closed,
        )?;
        let clock = MonotonicClock::new();
        let (state, recovery) = {
            let _guard = lock.lock()?;
            fs::remove_stale_temps(&path);
            load(&Ctx {
                path: &path,
                clock: &clock,
                file_mode: options.file_mode,
            })?
        };
        let log = LogFile {
            watched: WatchedPath::new(&path)?,
            watch,
            path,
            lock,
            state: Mutex::new(state),
            clock,
            durability: options.durability,
            file_mode: options.file_mode,
            commit: GroupCommit::default(),
            recoveries: Mutex::new(Vec::new()),
            recovered: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            skewed: AtomicBool::new(false),
            chain: options.chain,
            digests: None,
            size_limits: options.size_limits,
            truncated: AtomicU64::new(0),
        };
        if let Some(recovery) = recovery {
            log.record(recovery);
        }
        Ok(log)
    }

    /// Signs digests of the chain with `digests` (see `crate::integrity::digest`).
    pub(crate) fn with_digests(mut self, digests: crate::integrity::digest::Digests) -> Self {
        self.digests = Some(digests);
        self
    }

    /// With the lock held, after an event with link `head` was written: signs a digest when
    /// one is due. A digest that cannot be written is warned about, not returned: the event
    /// is in the log, and the next digest covers it (a verifier reports the newest events
    /// as not yet signed meanwhile).
    pub(crate) fn chained(&self, head: crate::integrity::Head) {
        if let Some(digests) = &self.digests
            && let Err(e) = digests.after_event(head)
        {
            tracing::warn!(target: "audit", path = %self.path.display(), error = %e, "cannot sign a digest of the log");
        }
    }

    /// The digest timer's tick: signs the newest unsigned head once its interval has
    /// passed, and says how long to wait before looking again (`None`: no digests).
    pub(crate) fn sign_when_due(&self) -> Option<std::time::Duration> {
        let digests = self.digests.as_ref()?;
        if digests.due_in().is_zero()
            && let Err(e) = self.sign_pending()
        {
            tracing::warn!(target: "audit", path = %self.path.display(), error = %e, "cannot sign a digest of the log");
            // Not at once again: the sidecar is unwritable until someone fixes it.
            return Some(digests.interval());
        }
        Some(digests.due_in())
    }

    /// Signs a digest of the newest head this process wrote, if it has not been signed
    /// (flush and drop).
    pub(crate) fn sign_pending(&self) -> Result<(), AuditError> {
        match &self.digests {
            Some(digests) if digests.has_unsigned() => {
                // The state's mutex first, as for an event (see `LockFile::lock`).
                let _state = self.state();
                let _guard = self.lock.lock()?;
                digests.sign_now()
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `log_event` waits for the disk.
    pub(crate) fn durability(&self) -> Durability {
        self.durability
    }

    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            path: &self.path,
            clock: &self.clock,
            file_mode: self.file_mode,
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, S> {
        // A panic while holding the mutex cannot leave the file half-updated (each update is
        // a single write or an atomic rename), so the state is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`state`](Self::state) for writing an event, counted while waiting for it, so that the
    /// thread writing before keeps the cross-process lock for this one
    /// ([`fs::LockGuard::keep_if`] with [`others_queued`](Self::others_queued)). The caller
    /// must take the lock next, before anything that can fail: a kept lock is released only
    /// by the next event.
    pub(crate) fn state_for_event(&self) -> MutexGuard<'_, S> {
        self.queued.fetch_add(1, Ordering::Relaxed);
        let state = self.state();
        self.queued.fetch_sub(1, Ordering::Relaxed);
        state
    }

    /// With the state mutex held: whether another thread is waiting for it to write an
    /// event (it cannot have stopped waiting: that takes the mutex).
    pub(crate) fn others_queued(&self) -> bool {
        self.queued.load(Ordering::Relaxed) > 0
    }

    /// Switches `state` to a freshly loaded one, recording what was done to the file if it
    /// had to be recovered.
    pub(crate) fn adopt(&self, state: &mut S, (fresh, recovery): (S, Option<Recovery>)) {
        if let Some(recovery) = recovery {
            self.record(recovery);
        }
        *state = fresh;
    }

    /// Reports a recovery (once, through `tracing`: a damaged audit trail must not go
    /// unnoticed) and keeps it for [`crate::AuditLogger::recoveries`].
    pub(crate) fn record(&self, recovery: Recovery) {
        tracing::warn!(target: "audit", "{recovery}");
        self.recovered.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.recoveries.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == KEPT_RECOVERIES {
            kept.remove(0);
        }
        kept.push(recovery);
    }

    /// Every recovery since the log was opened (the newest [`KEPT_RECOVERIES`]), oldest first.
    pub(crate) fn recoveries(&self) -> Vec<Recovery> {
        self.recoveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// With the lock held (after [`LockFile::lock`], which reads the directory watch):
    /// whether the file at the path is still the one `state` writes to, `false` if the log
    /// was rotated (`mv`), removed or replaced since. Without this check events would go on
    /// into a renamed or deleted file. It looks the path up only when the watch says the
    /// name may have changed ([`crate::storage::watch`]).
    pub(crate) fn still_at_path(&self, state: &S) -> Result<bool, AuditError> {
        if !self.watch.needs_check(WATCH_LOG) {
            return Ok(true);
        }
        let ours = self
            .watched
            .identity()?
            .is_some_and(|(id, _)| id == state.id());
        if ours {
            self.watch.confirmed(WATCH_LOG);
        }
        Ok(ours)
    }

    /// With the lock held: the timestamp for the next event, strictly after `newest` (the
    /// newest event in the file, if known) and every event this process wrote, and not
    /// before `wanted`.
    pub(crate) fn stamp(&self, newest: Option<Timestamp>, wanted: Timestamp) -> Stamp {
        if let Some(newest) = newest {
            self.clock.observe(newest);
        }
        let timestamp = self.clock.next_after(wanted);
        let pushed = timestamp.as_micros().saturating_sub(wanted.as_micros());
        let wall_clock = if pushed > CLOCK_SKEW_TOLERANCE_MICROS {
            // `wanted` may be an old time (an event that waited in a buffer); compare with
            // the real clock before calling the file's time wrong.
            let now = Timestamp::now();
            (timestamp.as_micros().saturating_sub(now.as_micros()) > CLOCK_SKEW_TOLERANCE_MICROS)
                .then_some(now)
        } else {
            None
        };
        let was_skewed = self.skewed.swap(wall_clock.is_some(), Ordering::Relaxed);
        match (was_skewed, wall_clock) {
            (false, Some(now)) => tracing::warn!(
                target: "audit",
                path = %self.path.display(),
                "the log holds an event stamped {timestamp} or later, ahead of the clock \
                 ({now}); events keep the file's order and record the real time in \
                 details._audit.wall_clock until the clock catches up"
            ),
            (true, None) => tracing::info!(
                target: "audit",
                path = %self.path.display(),
                "the clock has caught up with the newest event in the log"
            ),
            _ => {}
        }
        Stamp {
            timestamp,
            wall_clock,
        }
    }

    /// Numbers a write of `bytes` just made; call with the state still locked.
    pub(crate) fn note_write(&self, bytes: u64) -> u64 {
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
        self.commit.note_write()
    }

    /// Bytes of events written by this process, and recoveries done, since the log was
    /// opened.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.bytes_written.load(Ordering::Relaxed),
            self.recovered.load(Ordering::Relaxed),
        )
    }

    /// Counts an event written cut down to the size cap.
    pub(crate) fn note_truncated(&self) {
        self.truncated.fetch_add(1, Ordering::Relaxed);
    }

    /// Events written cut down to the size cap since the log was opened.
    pub(crate) fn truncations(&self) -> u64 {
        self.truncated.load(Ordering::Relaxed)
    }

    /// In the durable mode, returns once write `seq` is on disk.
    pub(crate) fn after_write(&self, seq: u64) -> Result<(), AuditError> {
        match self.durability {
            Durability::Written => Ok(()),
            Durability::Synced => self.sync_through(seq),
        }
    }

    fn sync_through(&self, seq: u64) -> Result<(), AuditError> {
        self.commit
            .sync_through(seq, || {
                let state = self.state();
                (state.file().clone(), self.commit.written())
            })
            .map_err(|e| AuditError::io("sync", &self.path, e))
    }

    /// Makes everything written so far durable.
    pub(crate) fn sync(&self) -> Result<(), AuditError> {
        self.sync_through(self.commit.written())
    }
}

impl<S> Drop for LogFile<S> {
    fn drop(&mut self) {
        if let Some(digests) = &self.digests
            && digests.has_unsigned()
        {
            let _state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let signed = self.lock.lock().and_then(|_guard| digests.sign_now());
            if let Err(e) = signed {
                tracing::warn!(target: "audit", path = %self.path.display(), error = %e, "cannot sign the last digest of the log");
            }
        }
    }
}
