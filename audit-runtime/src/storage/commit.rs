//! Group commit for the durable mode: threads that wrote events while another thread was
//! syncing share the next `fdatasync` instead of queueing one each.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counts writes and syncs; see [`GroupCommit::sync_through`].
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    written: AtomicU64,
    synced: Mutex<u64>,
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
        current: impl FnOnce() -> (Arc<File>, u64),
    ) -> std::io::Result<()> {
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= seq {
            return Ok(());
        }
        let (file, through) = current();
        file.sync_data()?;
        *synced = through;
        Ok(())
    }

    /// The highest write number handed out.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }
}
