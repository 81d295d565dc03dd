//! The thread that signs a digest once its interval has passed, whether or not more events
//! come: without it the newest events of a logger that went quiet would stay unsigned until
//! the next event, a flush or the logger's drop.

use std::sync::Weak;
use std::thread::{self, Thread};
use std::time::Duration;

/// One logger's digest timer. Dropping it (with the logger) wakes the thread, which finds
/// the logger gone and ends.
#[derive(Debug)]
pub(crate) struct DigestTimer {
    thread: Thread,
}

impl DigestTimer {
    /// Starts a thread that calls `tick` on `owner` and then sleeps for as long as `tick`
    /// says, until `owner` is gone or `tick` returns `None`. The thread holds `owner` only
    /// while `tick` runs, so it never keeps a logger alive.
    pub(crate) fn start<T: Send + Sync + 'static>(
        owner: Weak<T>,
        tick: fn(&T) -> Option<Duration>,
    ) -> std::io::Result<DigestTimer> {
        let handle = thread::Builder::new()
            .name("audit-digests".to_owned())
            .spawn(move || {
                loop {
                    let wait = match owner.upgrade() {
                        Some(owner) => tick(&owner),
                        None => None,
                    };
                    match wait {
                        // A spurious wake only makes `tick` look again.
                        Some(wait) => thread::park_timeout(wait),
                        None => return,
                    }
                }
            })?;
        Ok(DigestTimer {
            thread: handle.thread().clone(),
        })
    }
}

impl Drop for DigestTimer {
    fn drop(&mut self) {
        self.thread.unpark();
    }
}
