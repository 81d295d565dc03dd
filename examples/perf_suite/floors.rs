//! The floors: the fewest system calls that put the same bytes where the logger puts them,
//! with nothing else (no encoding: the bytes are made once; no timestamps; no checks).
//!
//! - JSON: `pwrite` of the event's chunk into a gap of spaces made beforehand, each event
//!   just before the previous one, as the logger writes it. The offset is claimed with one
//!   atomic subtraction, so the bare floor takes no lock at all.
//! - CSV: `write` to a file opened with `O_APPEND` (the kernel orders concurrent appends).
//! - Locked: the same under a mutex (threads) and `flock` on a sidecar lock file, taken and
//!   released per event: what excluding other processes costs at the least.
//! - Our syscalls: the locked floor plus the other system calls the logger makes per event
//!   for its guarantees, with nothing else: the non-blocking read of the directory watch's
//!   inotify queue (a rotated, removed or replaced log or lock file), and for JSON the read
//!   of the bytes around the gap's end (what other processes wrote since), for CSV the lock
//!   file's record read and written and the file's length (`lseek`). Ours minus this floor is
//!   what the logger spends outside the kernel.
//! - Durable: `fsync` per event inside the mutex (every writer waits for every sync), and
//!   the write inside the mutex with `fdatasync` outside it, called by each thread itself,
//!   so concurrent syncs are merged by the file system. Neither takes the `flock`: next to
//!   a sync it is noise.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bench::{Batch, BoxError, Contender, run_threads};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Into the JSON log's gap.
    Gap,
    /// Appended, as the CSV log is.
    Append,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discipline {
    Bare,
    Flock,
    OurSyscalls,
    FsyncUnderMutex,
    FdatasyncOutside,
}

impl Discipline {
    pub fn durable(self) -> bool {
        matches!(
            self,
            Discipline::FsyncUnderMutex | Discipline::FdatasyncOutside
        )
    }

    pub fn name(self, target: Target) -> &'static str {
        match (target, self) {
            (Target::Gap, Discipline::Bare) => "floor: pwrite into gap",
            (Target::Gap, Discipline::Flock) => "floor: pwrite + flock",
            (Target::Append, Discipline::Bare) => "floor: O_APPEND write",
            (Target::Append, Discipline::Flock) => "floor: O_APPEND write + flock",
            (Target::Gap, Discipline::OurSyscalls) => "floor: our syscalls (JSON)",
            (Target::Append, Discipline::OurSyscalls) => "floor: our syscalls (CSV)",
            (_, Discipline::FsyncUnderMutex) => "floor: write + fsync under mutex",
            (_, Discipline::FdatasyncOutside) => "floor: write, fdatasync outside mutex",
        }
    }
}

pub struct Floor {
    pub key: String,
    target: Target,
    discipline: Discipline,
    threads: usize,
    ops: u64,
    bytes: Vec<u8>,
    /// For CSV, what the file starts with (its header).
    prefix: Vec<u8>,
    dir: PathBuf,
    open: Option<Open>,
}

struct Open {
    file: File,
    lock: File,
    /// An inotify instance watching the directory, as the logger's.
    watch: std::os::fd::OwnedFd,
    mutex: Mutex<()>,
    /// Where the next JSON chunk ends (the gap shrinks from its end towards the `[`).
    gap_end: AtomicU64,
}

impl Floor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: String,
        target: Target,
        discipline: Discipline,
        threads: usize,
        ops: u64,
        bytes: Vec<u8>,
        prefix: Vec<u8>,
        dir: PathBuf,
    ) -> Floor {
        Floor {
            key,
            target,
            discipline,
            threads,
            ops,
            bytes,
            prefix,
            dir,
            open: None,
        }
    }
}

impl Contender for Floor {
    fn key(&self) -> String {
        self.key.clone()
    }

    /// A fresh file each round: a gap with room for the whole batch, or the CSV header.
    fn prepare(&mut self) -> Result<(), BoxError> {
        self.open = None;
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join("floor.log");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(self.dir.join(".floor.log.lock"))?;
        let (file, gap_end) = match self.target {
            Target::Gap => {
                let gap = self.ops * self.bytes.len() as u64 + 64 * 1024;
                // Readable too: the our-syscalls floor reads around the gap's end.
                let mut file = OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .read(true)
                    .write(true)
                    .open(&path)?;
                file.write_all(b"[")?;
                // In 64 KiB writes, as the logger lays out its gap: one multi-megabyte write
                // leaves the page cache with large folios, into which each small `pwrite`
                // later costs several times more (measured: 1.1 µs instead of 0.27 µs).
                let block = [b' '; 64 * 1024];
                let mut left = gap;
                while left > 0 {
                    let n = left.min(block.len() as u64) as usize;
                    file.write_all(&block[..n])?;
                    left -= n as u64;
                }
                file.write_all(b"\n]\n")?;
                // The newline that ends the gap, which each chunk's last byte overwrites.
                (file, 1 + gap + 1)
            }
            Target::Append => {
                let mut file = OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .write(true)
                    .open(&path)?;
                file.write_all(&self.prefix)?;
                drop(file);
                let file = OpenOptions::new().append(true).open(&path)?;
                (file, 0)
            }
        };
        // The spaces are on disk before the round, as a log's gap would be.
        file.sync_all()?;
        self.open = Some(Open {
            file,
            lock,
            watch: watch_dir(&self.dir)?,
            mutex: Mutex::new(()),
            gap_end: AtomicU64::new(gap_end),
        });
        Ok(())
    }

    fn run(&mut self) -> Result<Batch, BoxError> {
        let open = self.open.as_ref().ok_or("not prepared")?;
        let (target, discipline, bytes) = (self.target, self.discipline, &self.bytes[..]);
        let len = bytes.len() as u64;
        let write = move || -> std::io::Result<()> {
            match target {
                Target::Gap => {
                    let end = open.gap_end.fetch_sub(len - 1, Ordering::Relaxed);
                    open.file.write_all_at(bytes, end - len)
                }
                Target::Append => (&open.file).write_all(bytes),
            }
        };
        run_threads(
            self.threads,
            self.ops,
            || (),
            |_| {
                match discipline {
                    Discipline::Bare => write()?,
                    Discipline::Flock => {
                        let _threads = open.mutex.lock().map_err(|_| "poisoned")?;
                        flock(&open.lock, libc::LOCK_EX)?;
                        let written = write();
                        flock(&open.lock, libc::LOCK_UN)?;
                        written?;
                    }
                    Discipline::OurSyscalls => {
                        let _threads = open.mutex.lock().map_err(|_| "poisoned")?;
                        flock(&open.lock, libc::LOCK_EX)?;
                        drain(&open.watch);
                        let mut record = [0u8; 43];
                        let written = match target {
                            Target::Gap => open
                                .file
                                .read_at(&mut record, open.gap_end.load(Ordering::Relaxed) - 2)
                                .and_then(|_| write()),
                            Target::Append => open
                                .lock
                                .read_at(&mut record[..32], 0)
                                .and_then(|_| seek_end(&open.file))
                                .and_then(|()| write())
                                .and_then(|()| open.lock.write_all_at(&record[..32], 0)),
                        };
                        flock(&open.lock, libc::LOCK_UN)?;
                        written?;
                    }
                    Discipline::FsyncUnderMutex => {
                        let _threads = open.mutex.lock().map_err(|_| "poisoned")?;
                        write()?;
                        open.file.sync_all()?;
                    }
                    Discipline::FdatasyncOutside => {
                        {
                            let _threads = open.mutex.lock().map_err(|_| "poisoned")?;
                            write()?;
                        }
                        open.file.sync_data()?;
                    }
                }
                Ok(())
            },
        )
    }
}

fn watch_dir(dir: &std::path::Path) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let c_dir = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: plain syscalls; the descriptor is owned by the OwnedFd from here on.
    unsafe {
        let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mask = libc::IN_CREATE | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO;
        if libc::inotify_add_watch(fd.as_raw_fd(), c_dir.as_ptr(), mask) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fd)
    }
}

fn drain(watch: &std::os::fd::OwnedFd) {
    let mut buf = [0u8; 4096];
    // SAFETY: reads into a local buffer of the given length.
    unsafe { libc::read(watch.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
}

fn seek_end(file: &File) -> std::io::Result<()> {
    // SAFETY: a valid descriptor, owned by `file` for the duration of the call.
    if unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn flock(file: &File, op: libc::c_int) -> std::io::Result<()> {
    // SAFETY: a valid descriptor, owned by `file` for the duration of the call.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
