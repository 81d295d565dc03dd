//! Group commit for the durable mode: threads that wrote events while another thread was
//! syncing share the next `fdatasync` instead of queueing one each.
//!
//! Up to [`MAX_IN_FLIGHT`] syncs run at once. With one, every thread that wrote during a
//! sync waited for it to end and for the mutex, one after the other, before the next sync
//! could start: on a 2-core VM those wake-ups cost as much as the sync. With two, the next
//! sync starts while the first is still running, covering everything written so far, and a
//! thread whose event a running sync already covers simply waits for that one.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// How many `fdatasync`s of one log may run at once.
const MAX_IN_FLIGHT: usize = 2;

/// Counts writes and syncs; see [`GroupCommit::sync_through`].
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    written: AtomicU64,
    /// Every write numbered up to this is on disk.
    synced: AtomicU64,
    running: Mutex<Running>,
    finished: Condvar,
}

/// The syncs running now.
#[derive(Debug, Default)]
struct Running {
    count: usize,
    /// The highest write number a running sync covers (it started after that write).
    through: u64,
}

impl GroupCommit {
    /// Numbers a write. Call while still holding the writer's lock, so that numbers follow
    /// file order.
    pub(crate) fn note_write(&self) -> u64 {
        self.written.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Returns once write `seq` is on disk. `current` gives the file that holds every write
    /// numbered so far (and the highest such number), read under the writer's lock.
    pub(crate) fn sync_through(
        &self,
        seq: u64,
        current: impl Fn() -> (Arc<File>, u64),
    ) -> std::io::Result<()> {
        if self.synced.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if self.synced.load(Ordering::Acquire) >= seq {
                return Ok(());
            }
            if running.through >= seq || running.count >= MAX_IN_FLIGHT {
                running = self
                    .finished
                    .wait(running)
                    .unwrap_or_else(|p| p.into_inner());
                continue;
            }
            running.count += 1;
            drop(running);
            // An `fdatasync` flushes every page dirty when it starts and waits for those a
            // sync already running is writing back, so when it returns, everything written
            // before it started is on disk, whichever sync finishes first.
            let (file, through) = current();
            {
                let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                running.through = running.through.max(through);
            }
            let synced = file.sync_data();
            running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running.count -= 1;
            match &synced {
                Ok(()) => {
                    self.synced.fetch_max(through, Ordering::AcqRel);
                }
                // What it claimed to cover must be synced again by whoever waited for it
                // (the other running sync's reach is not kept: they may sync twice).
                Err(_) => running.through = self.synced.load(Ordering::Acquire),
            }
            if running.count == 0 {
                running.through = 0;
            }
            self.finished.notify_all();
            synced?;
        }
    }

    /// The highest write number handed out.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_is_synced_once_its_caller_returns() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(File::create(dir.path().join("log")).unwrap());
        let commit = GroupCommit::default();
        let writes = Mutex::new(());
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let seq = {
                            let _lock = writes.lock().unwrap();
                            commit.note_write()
                        };
                        commit
                            .sync_through(seq, || (Arc::clone(&file), commit.written()))
                            .unwrap();
                        assert!(commit.synced.load(Ordering::Acquire) >= seq);
                    }
                });
            }
        });
        assert_eq!(commit.synced.load(Ordering::Acquire), 8 * 50);
        let running = commit.running.lock().unwrap();
        assert_eq!(running.count, 0);
    }

    #[test]
    fn a_failed_sync_is_reported_and_retried_by_the_next_caller() {
        let dir = tempfile::tempdir().unwrap();
        let good = Arc::new(File::create(dir.path().join("log")).unwrap());
        // fdatasync of a directory opened read-only fails with EBADF or EINVAL on some file
        // systems and succeeds on others; a pipe's read end fails everywhere.
        let (read_end, _write_end) = std::io::pipe().unwrap();
        let bad = Arc::new(File::from(std::os::fd::OwnedFd::from(read_end)));
        let commit = GroupCommit::default();
        let seq = commit.note_write();
        assert!(
            commit
                .sync_through(seq, || (Arc::clone(&bad), commit.written()))
                .is_err()
        );
        assert_eq!(commit.synced.load(Ordering::Acquire), 0);
        commit
            .sync_through(seq, || (Arc::clone(&good), commit.written()))
            .unwrap();
        assert_eq!(commit.synced.load(Ordering::Acquire), seq);
    }
}
