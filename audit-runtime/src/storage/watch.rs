//! Noticing that a name in the log's directory now means another file, without looking it up
//! before every event.
//!
//! Before each write a writer must know that its handle is still the file at the log's path
//! (not rotated, removed or replaced) and that the lock it took is on the file at the lock's
//! path. An `lstat` of each answers that, but on the machines we measured the two cost more
//! than the write itself: 1 to 2 µs each inside the lock/read/write sequence, where the
//! `pwrite` takes 0.6 µs. An inotify watch on the directory answers it with one non-blocking
//! `read` of an (almost always empty) queue: the kernel queues a rename, an unlink or a
//! creation of an entry inside the syscall that makes it, so once that syscall has returned,
//! the next read sees it, exactly as the next `lstat` would. Only a name the queue reports
//! as touched is looked up again.
//!
//! The watch cannot see everything an `lstat` of the full path can: a parent of the directory
//! renamed, a bind mount over the file, a network file system changed from another host. So
//! the names are also looked up at least every [`FULL_CHECK_EVERY`], and always when the
//! watch is not working (no inotify instance left for the user, the directory itself removed
//! or moved: the watch is then re-established on whatever is at the path).

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the watch alone is trusted before the names are looked up anyway.
pub(crate) const FULL_CHECK_EVERY: Duration = Duration::from_millis(100);

/// What happens to an entry that can make a name refer to another file.
const ENTRY_EVENTS: u32 =
    libc::IN_CREATE | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO;
/// What happens to the directory itself; the watch then no longer covers the path.
const SELF_EVENTS: u32 =
    libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_IGNORED | libc::IN_UNMOUNT;

/// Watches a few names in one directory; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct DirWatch {
    dir: Option<CString>,
    names: Vec<Vec<u8>>,
    full_check_every: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The inotify instance and whether it watches the directory now at the path.
    fd: Option<OwnedFd>,
    watching: bool,
    /// Names (by index) that may have changed since they were last found to be ours.
    dirty: u64,
    last_full_check: Instant,
    buf: Vec<u8>,
}

impl DirWatch {
    /// Watches `names` (at most 64) in `dir`, looking the names up anyway every
    /// `full_check_every` ([`FULL_CHECK_EVERY`] normally; zero to look them up before every
    /// event). Never fails: without a watch every check looks the names up, as if they had
    /// all changed.
    pub(crate) fn trusted_for(
        dir: &Path,
        names: &[&OsStr],
        full_check_every: Duration,
    ) -> DirWatch {
        let dir = CString::new(dir.as_os_str().as_bytes()).ok();
        let watch = DirWatch {
            dir,
            names: names.iter().map(|n| n.as_bytes().to_vec()).collect(),
            full_check_every,
            inner: Mutex::new(Inner {
                fd: None,
                watching: false,
                dirty: u64::MAX,
                last_full_check: Instant::now(),
                buf: Vec::new(),
            }),
        };
        watch.with(|inner| watch.rewatch(inner));
        watch
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A fresh instance watching the directory now at the path; every name counts as changed
    /// (whatever happened before the watch began is unknown).
    fn rewatch(&self, inner: &mut Inner) {
        inner.dirty = u64::MAX;
        inner.watching = false;
        inner.fd = None;
        let Some(dir) = &self.dir else { return };
        // SAFETY: plain syscalls; the returned descriptor is owned by the OwnedFd below.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            tracing::debug!(
                target: "audit",
                error = %io::Error::last_os_error(),
                "no inotify instance; the log's path is looked up before every event"
            );
            return;
        }
        // SAFETY: `fd` was just returned by inotify_init1 and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mask = ENTRY_EVENTS | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_ONLYDIR;
        // SAFETY: `dir` is NUL-terminated and `fd` a valid inotify descriptor.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), dir.as_ptr(), mask) };
        inner.watching = wd >= 0;
        inner.fd = Some(fd);
        inner.last_full_check = Instant::now();
    }

    /// Reads what happened in the directory since the last call. Call with the writers' lock
    /// held, before [`needs_check`](Self::needs_check): every change another writer made
    /// before releasing the lock is in the queue by then.
    pub(crate) fn refresh(&self) {
        self.with(|inner| {
            if inner.last_full_check.elapsed() >= self.full_check_every {
                inner.dirty = u64::MAX;
                inner.last_full_check = Instant::now();
            }
            if !inner.watching {
                // Re-establish it (the directory may be back); until it works, every name is
                // looked up.
                self.rewatch(inner);
                return;
            }
            let lost = match self.drain(inner) {
                Ok(lost) => lost,
                Err(e) => {
                    tracing::debug!(target: "audit", error = %e, "reading the inotify queue");
                    true
                }
            };
            if lost {
                self.rewatch(inner);
            }
        });
    }

    /// Reads the queue until it is empty, marking the names it touched. Returns whether the
    /// watch no longer covers the directory at the path.
    fn drain(&self, inner: &mut Inner) -> io::Result<bool> {
        const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
        let Some(fd) = inner.fd.as_ref().map(AsRawFd::as_raw_fd) else {
            return Ok(true);
        };
        if inner.buf.is_empty() {
            // Room for many events with the longest name.
            inner.buf = vec![0u8; 16 * (HEADER + 256)];
        }
        let mut lost = false;
        loop {
            // SAFETY: reads into our own buffer of the given length.
            let n = unsafe { libc::read(fd, inner.buf.as_mut_ptr().cast(), inner.buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(lost),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(e),
                };
            }
            let n = n as usize;
            let mut at = 0;
            while at + HEADER <= n {
                // SAFETY: the kernel wrote a whole `inotify_event` header at `at` (reads
                // return whole events); read_unaligned because the buffer is bytes.
                let event: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(inner.buf.as_ptr().add(at).cast()) };
                let name_len = event.len as usize;
                let name = inner
                    .buf
                    .get(at + HEADER..(at + HEADER + name_len).min(n))
                    .unwrap_or(&[]);
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                if event.mask & libc::IN_Q_OVERFLOW != 0 {
                    inner.dirty = u64::MAX;
                } else if event.mask & SELF_EVENTS != 0 {
                    lost = true;
                } else if let Some(index) = self.names.iter().position(|n| n == name) {
                    inner.dirty |= 1 << index;
                }
                at += HEADER + name_len;
            }
            if n < inner.buf.len() / 2 {
                // A short read took everything there was; skip the read that would say so.
                return Ok(lost);
            }
        }
    }

    /// Whether name `index` may refer to another file than when it was last confirmed.
    pub(crate) fn needs_check(&self, index: usize) -> bool {
        self.with(|inner| inner.dirty & (1 << index) != 0)
    }

    /// Name `index` was looked up and found to be the expected file.
    pub(crate) fn confirmed(&self, index: usize) {
        self.with(|inner| inner.dirty &= !(1 << index));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watch that never falls back to looking the names up by time, so that the tests do
    /// not depend on how fast the machine is.
    fn watch(dir: &Path) -> DirWatch {
        let names = [OsStr::new("log"), OsStr::new("lock")];
        DirWatch::trusted_for(dir, &names, Duration::from_secs(24 * 3600))
    }

    fn settle(w: &DirWatch) {
        w.refresh();
        for index in 0..w.names.len() {
            w.confirmed(index);
        }
    }

    #[test]
    fn the_names_are_looked_up_again_after_the_full_check_interval() {
        let dir = tempfile::tempdir().unwrap();
        let w = DirWatch::trusted_for(dir.path(), &[OsStr::new("log")], Duration::ZERO);
        settle(&w);
        w.refresh();
        assert!(w.needs_check(0));
    }

    #[test]
    fn every_name_needs_a_check_at_first() {
        let dir = tempfile::tempdir().unwrap();
        let w = watch(dir.path());
        w.refresh();
        assert!(w.needs_check(0) && w.needs_check(1));
    }

    #[test]
    fn renames_removals_and_creations_of_a_watched_name_are_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(&log, b"x").unwrap();
        let w = watch(dir.path());
        settle(&w);
        w.refresh();
        assert!(!w.needs_check(0), "nothing happened");

        std::fs::rename(&log, dir.path().join("log.1")).unwrap();
        w.refresh();
        assert!(w.needs_check(0) && !w.needs_check(1));
        w.confirmed(0);

        std::fs::write(&log, b"y").unwrap();
        w.refresh();
        assert!(w.needs_check(0));
        w.confirmed(0);

        std::fs::remove_file(&log).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &log).unwrap();
        w.refresh();
        assert!(w.needs_check(0));
        w.confirmed(0);

        std::fs::write(dir.path().join(".lock-not"), b"").unwrap();
        std::fs::write(dir.path().join("lock"), b"").unwrap();
        w.refresh();
        assert!(!w.needs_check(0) && w.needs_check(1));
    }

    #[test]
    fn other_names_and_writes_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(&log, b"x").unwrap();
        let w = watch(dir.path());
        settle(&w);
        std::fs::write(&log, b"more").unwrap();
        std::fs::write(dir.path().join("other"), b"").unwrap();
        std::fs::rename(dir.path().join("other"), dir.path().join("other2")).unwrap();
        w.refresh();
        assert!(!w.needs_check(0) && !w.needs_check(1));
    }

    #[test]
    fn a_removed_and_recreated_directory_is_watched_again() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("logs");
        std::fs::create_dir(&dir).unwrap();
        let w = watch(&dir);
        settle(&w);
        std::fs::remove_dir(&dir).unwrap();
        w.refresh();
        assert!(w.needs_check(0), "the directory went away");
        std::fs::create_dir(&dir).unwrap();
        settle(&w);
        settle(&w);
        std::fs::write(dir.join("log"), b"new").unwrap();
        w.refresh();
        assert!(w.needs_check(0), "the new directory is watched");
    }

    #[test]
    fn a_moved_directory_is_not_trusted() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("logs");
        std::fs::create_dir(&dir).unwrap();
        let w = watch(&dir);
        settle(&w);
        std::fs::rename(&dir, parent.path().join("logs.old")).unwrap();
        w.refresh();
        assert!(w.needs_check(0) && w.needs_check(1));
    }

    #[test]
    fn many_events_overflowing_one_read_are_all_read() {
        let dir = tempfile::tempdir().unwrap();
        let w = watch(dir.path());
        settle(&w);
        for i in 0..500 {
            std::fs::write(
                dir.path().join(format!("noise-with-a-long-name-{i:0>200}")),
                b"",
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("lock"), b"").unwrap();
        w.refresh();
        assert!(!w.needs_check(0) && w.needs_check(1));
        w.confirmed(1);
        w.refresh();
        assert!(!w.needs_check(1), "the queue was drained");
    }
}
