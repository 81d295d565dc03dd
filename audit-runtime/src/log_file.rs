//! What the JSON and CSV writers share: the path, the cross-process lock, the per-process
//! state behind a mutex, the monotonic clock, and group commit for the durable mode. Each
//! format adds its own `append` and `summary` on top (`json_file`, `csv_file`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::commit::GroupCommit;
use crate::fsutil::{self, LockFile};
use crate::recovery::Recovery;
use crate::timestamp::MonotonicClock;
use crate::{AuditError, Durability};

/// How often a writer checks with `fstat` that nobody removed or replaced the log behind its
/// back. Rewrites by this crate are noticed at once without it; a log removed by hand is
/// recreated within this interval (events written meanwhile go to the removed file).
pub(crate) const STALE_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Per-process state of an open log: at least the handle events are written to.
pub(crate) trait OpenState {
    /// The file that holds every event written so far.
    fn file(&self) -> &Arc<File>;
}

/// Switches `state` to a freshly loaded one, reporting on stderr what was done to the file
/// if it had to be recovered.
pub(crate) fn adopt<S>(state: &mut S, (fresh, recovery): (S, Option<Recovery>)) {
    if let Some(recovery) = recovery {
        recovery.report();
    }
    *state = fresh;
}

/// An open log file of either format.
#[derive(Debug)]
pub(crate) struct LogFile<S> {
    pub(crate) path: PathBuf,
    pub(crate) lock: LockFile,
    state: Mutex<S>,
    pub(crate) clock: MonotonicClock,
    durability: Durability,
    commit: GroupCommit,
}

impl<S: OpenState> LogFile<S> {
    /// Takes the lock, clears temporary files a crashed rewrite left, and lets `load` open,
    /// create or recover the log.
    pub(crate) fn open(
        path: PathBuf,
        durability: Durability,
        load: impl FnOnce(&Path, &MonotonicClock) -> Result<(S, Option<Recovery>), AuditError>,
    ) -> Result<(Self, Option<Recovery>), AuditError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lock = LockFile::open(path.with_file_name(format!(".{name}.lock")))?;
        let clock = MonotonicClock::new();
        let (state, recovery) = {
            let _guard = lock.lock()?;
            fsutil::remove_stale_temps(&path);
            load(&path, &clock)?
        };
        let log = LogFile {
            path,
            lock,
            state: Mutex::new(state),
            clock,
            durability,
            commit: GroupCommit::default(),
        };
        Ok((log, recovery))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, S> {
        // A panic while holding the mutex cannot leave the file half-updated (each update is
        // a single write or an atomic rename), so the state is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers a write just made; call with the state still locked.
    pub(crate) fn note_write(&self) -> u64 {
        self.commit.note_write()
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
