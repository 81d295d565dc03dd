//! File-system building blocks shared by the writers: opening files safely, the cross-process
//! lock, file identity, atomic replacement and copies kept aside. Nothing here knows about
//! events.
//!
//! Every path the writers open or create is opened without following a symbolic link
//! (`O_NOFOLLOW`; temporaries also `O_EXCL`) and must be a regular file: a link planted at the
//! log, its lock file or a temporary would otherwise send events, or the writers' own bytes,
//! into a file of the attacker's choosing.

use std::borrow::Borrow;
use std::fs::{self, File, Metadata, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::AuditError;
pub(crate) use crate::read::read_at_most;
use crate::storage::watch::DirWatch;

/// The mode of files the writers create when nobody configured one: the log is evidence
/// about people, readable by its owner only (see `AuditLoggerBuilder::file_mode`).
pub(crate) const DEFAULT_FILE_MODE: u32 = 0o600;

/// Which file an open handle or a path refers to. A writer compares the identity of its
/// handle with the path's before each write: the log may have been rewritten by another
/// writer, rotated (`mv`), removed or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

impl FileId {
    pub(crate) fn of_meta(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    pub(crate) fn of_file(file: &File, path: &Path) -> Result<FileId, AuditError> {
        let meta = file
            .metadata()
            .map_err(|e| AuditError::io("inspect", path, e))?;
        Ok(FileId::of_meta(&meta))
    }

    /// The identity of whatever is at `path` now (a link itself, not its target), or `None`
    /// if nothing is.
    #[cfg(test)]
    pub(crate) fn of_path(path: &Path) -> Result<Option<FileId>, AuditError> {
        Ok(lstat(path)?.map(|meta| FileId::of_meta(&meta)))
    }
}

/// A path checked when the directory watch reports its name (`crate::storage::watch`): the
/// `lstat` of it without the per-call cost of turning
/// the path into a C string (std's `symlink_metadata` does that and asks `statx` for every
/// field), which was half the cost of the check.
#[derive(Debug)]
pub(crate) struct WatchedPath {
    path: PathBuf,
    c_path: std::ffi::CString,
}

impl WatchedPath {
    pub(crate) fn new(path: &Path) -> Result<WatchedPath, AuditError> {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
            AuditError::io(
                "use",
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte"),
            )
        })?;
        Ok(WatchedPath {
            path: path.to_owned(),
            c_path,
        })
    }

    /// The identity and length of whatever is at the path itself (a link is not followed),
    /// or `None` when nothing is.
    pub(crate) fn identity(&self) -> Result<Option<(FileId, u64)>, AuditError> {
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `c_path` is a NUL-terminated string and `stat` a buffer of the right type;
        // lstat writes the whole buffer when it returns 0.
        let stat = unsafe {
            if libc::lstat(self.c_path.as_ptr(), stat.as_mut_ptr()) != 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::NotFound => Ok(None),
                    _ => Err(AuditError::io("inspect", &self.path, e)),
                };
            }
            stat.assume_init()
        };
        Ok(Some((
            FileId {
                dev: stat.st_dev,
                ino: stat.st_ino,
            },
            stat.st_size as u64,
        )))
    }
}

/// `lstat`: what is at `path` itself, `None` when nothing is.
pub(crate) fn lstat(path: &Path) -> Result<Option<Metadata>, AuditError> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AuditError::io("inspect", path, e)),
    }
}

/// What kind of thing `meta` describes, for an error message.
fn kind_of(meta: &Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// How [`open_regular`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    ReadWrite,
    ReadAppend,
    /// Read and write, creating the file with `mode` if it does not exist.
    Create {
        mode: u32,
    },
}

/// Opens `path` without following a symbolic link, and only if it is a regular file.
///
/// `O_NONBLOCK` is passed so that a FIFO planted at the path cannot make the open hang; it
/// has no effect on regular files, the only kind this returns.
pub(crate) fn open_regular(path: &Path, access: Access) -> Result<File, AuditError> {
    let mut options = OpenOptions::new();
    options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    match access {
        Access::Read => options.read(true),
        Access::ReadWrite => options.read(true).write(true),
        Access::ReadAppend => options.read(true).append(true),
        Access::Create { mode } => options.read(true).write(true).create(true).mode(mode),
    };
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(AuditError::NotARegularFile {
                path: path.to_owned(),
                found: "a symbolic link",
            });
        }
        Err(e) => {
            // A directory opened for writing fails with EISDIR, a socket with ENXIO: say what
            // is there rather than only the errno.
            if let Ok(Some(meta)) = lstat(path)
                && !meta.file_type().is_file()
            {
                return Err(AuditError::NotARegularFile {
                    path: path.to_owned(),
                    found: kind_of(&meta),
                });
            }
            return Err(AuditError::io("open", path, e));
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| AuditError::io("inspect", path, e))?;
    if !meta.file_type().is_file() {
        return Err(AuditError::NotARegularFile {
            path: path.to_owned(),
            found: kind_of(&meta),
        });
    }
    Ok(file)
}

/// Opens the existing log at `path` ([`open_regular`]) with its length, or `None` when there
/// is nothing at the path (the caller creates it).
pub(crate) fn open_existing(
    path: &Path,
    access: Access,
) -> Result<Option<(File, u64)>, AuditError> {
    let file = match open_regular(path, access) {
        Ok(file) => file,
        Err(AuditError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let len = file
        .metadata()
        .map_err(|e| AuditError::io("inspect", path, e))?
        .len();
    Ok(Some((file, len)))
}

/// Reads a file through positioned reads, leaving the handle's own offset alone (writers
/// share their handle between threads and write with `pwrite`). `F` is a `File`, a `&File`
/// or an `Arc<File>`.
pub(crate) struct ReadAt<F> {
    pub(crate) file: F,
    pub(crate) offset: u64,
}

impl<F: Borrow<File>> Read for ReadAt<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.borrow().read_at(buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl<F: Borrow<File>> Seek for ReadAt<F> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let moved = |base: u64, delta: i64| {
            base.checked_add_signed(delta).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "seek before the start of the file",
                )
            })
        };
        self.offset = match to {
            SeekFrom::Start(at) => at,
            SeekFrom::Current(delta) => moved(self.offset, delta)?,
            SeekFrom::End(delta) => moved(self.file.borrow().metadata()?.len(), delta)?,
        };
        Ok(self.offset)
    }
}

/// Appends `len` bytes of `source`, from `offset` on, to `out` at its current position,
/// without moving `source`'s own offset. Uses `copy_file_range`, so the kernel copies (or
/// shares) the blocks instead of pulling them through user space — a rewrite of a large log
/// copies all of it — and falls back to reading and writing where that is not supported.
pub(crate) fn copy_range(source: &File, offset: u64, out: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut done = 0u64;
    while done < len {
        let mut from = (offset + done) as libc::loff_t;
        let want = (len - done).min(1 << 30) as usize;
        // SAFETY: both descriptors are open files; `from` is a valid loff_t the call updates;
        // a null output offset means "use and advance out's file offset".
        let copied = unsafe {
            libc::copy_file_range(
                source.as_raw_fd(),
                &mut from,
                out.as_raw_fd(),
                std::ptr::null_mut(),
                want,
                0,
            )
        };
        match copied {
            0 => break,
            n if n > 0 => done += n as u64,
            _ => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => {
                        let rest = ReadAt {
                            file: source,
                            offset: offset + done,
                        };
                        let mut out = out;
                        done += io::copy(&mut rest.take(len - done), &mut out)?;
                        break;
                    }
                    _ => return Err(e),
                }
            }
        }
    }
    if done == len {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the log shrank while being rewritten",
        ))
    }
}

/// [`copy_range`] to offset `at` of `out` (which moves `out`'s own offset there).
pub(crate) fn copy_range_at(
    source: &File,
    offset: u64,
    out: &File,
    at: u64,
    len: u64,
) -> io::Result<()> {
    let mut seek = out;
    seek.seek(SeekFrom::Start(at))?;
    copy_range(source, offset, out, len)
}

/// Writes a large new file in steps, starting each step's writeback as soon as it is written
/// and waiting for the step before it: the file never holds more than two steps of dirty
/// pages. A background rewrite writes as much as three times the log; left to the kernel, that
/// much dirty data makes it throttle every writer of the machine (the writers of the log
/// included, in 10 ms sleeps), which is the stall the rewrite is built in the background to
/// avoid.
#[derive(Debug)]
pub(crate) struct PacedWriter<'a> {
    file: &'a File,
    written: u64,
    flushed: u64,
    /// Checked at every step: set, the copy stops with [`io::ErrorKind::Interrupted`].
    stop: Option<&'a AtomicBool>,
}

impl<'a> PacedWriter<'a> {
    const STEP: u64 = 8 << 20;

    /// Writes at `file`'s current position, which must be its start.
    pub(crate) fn new(file: &'a File) -> PacedWriter<'a> {
        PacedWriter {
            file,
            written: 0,
            flushed: 0,
            stop: None,
        }
    }

    /// Gives up at the next step once `stop` is set: a rewrite nobody wants any more (its log
    /// moved to another file, or closed) would otherwise go on writing gigabytes for nothing.
    pub(crate) fn stopping_when(mut self, stop: &'a AtomicBool) -> PacedWriter<'a> {
        self.stop = Some(stop);
        self
    }

    /// Appends `bytes`.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut out = self.file;
        out.write_all(bytes)?;
        self.advance(bytes.len() as u64)
    }

    /// Appends `len` bytes of `source` from `offset` on.
    pub(crate) fn copy(&mut self, source: &File, offset: u64, len: u64) -> io::Result<()> {
        let mut done = 0;
        while done < len {
            let step = (len - done).min(Self::STEP);
            copy_range(source, offset + done, self.file, step)?;
            self.advance(step)?;
            done += step;
        }
        Ok(())
    }

    fn advance(&mut self, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        self.written += len;
        if self.written - self.flushed < Self::STEP {
            return Ok(());
        }
        if self.stop.is_some_and(|stop| stop.load(Ordering::Relaxed)) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the rewrite is no longer wanted",
            ));
        }
        let fd = self.file.as_raw_fd();
        // Wait for the previous step, then start this one: at most two steps in flight.
        let range = |from: u64, to: u64, flags| {
            // SAFETY: a valid descriptor and a range inside the file; the call only starts or
            // waits for writeback.
            let r = unsafe {
                libc::sync_file_range(
                    fd,
                    from as libc::off64_t,
                    (to - from) as libc::off64_t,
                    flags,
                )
            };
            if r == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        let previous = self.flushed.saturating_sub(Self::STEP);
        let waited = range(
            previous,
            self.flushed.max(previous + 1),
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
        )
        .and_then(|()| range(self.flushed, self.written, libc::SYNC_FILE_RANGE_WRITE));
        if let Err(e) = waited {
            // Not every file system has it; pacing is an optimisation, the final sync is not.
            if e.raw_os_error() != Some(libc::ENOSYS) && e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
        }
        self.flushed = self.written;
        Ok(())
    }
}

/// An advisory lock on a small sidecar file. The log itself is replaced on regrowth, so
/// locking it would not exclude a process holding the new file.
///
/// The sidecar can be removed behind the writers' backs (`rm`, `git clean`, a cleanup
/// script, the directory removed and re-created); a lock on the removed inode then excludes
/// nobody who opens the path afresh. So after every `flock` the locked file is compared with
/// the path whenever the directory watch says the name may have changed, and on a mismatch
/// the path is opened (or created) again and locked instead.
#[derive(Debug)]
pub(crate) struct LockFile {
    path: PathBuf,
    watched: WatchedPath,
    watch: Arc<DirWatch>,
    /// The lock file's name among the watched ones.
    watch_index: usize,
    mode: u32,
    /// Whether a removed log directory is made again (fail-open) or is an error until it is
    /// back (fail-closed: an audit directory removed by hand is an incident to see, not to
    /// paper over).
    recreate_dir: bool,
    /// The open sidecar and its identity; replaced when the path changed.
    current: Mutex<(Arc<File>, FileId)>,
    /// Non-zero while the lock is held with no guard alive: kept by the last event for a
    /// thread of this process queued behind it ([`LockGuard::keep_if`]); the number of
    /// events written under the hold so far.
    kept: AtomicU32,
}

/// How many events in a row one process writes under one hold of the lock before letting
/// other processes have it: a few hundred microseconds of writing at most.
const MAX_KEPT_EVENTS: u32 = 64;

/// Holds the cross-process lock until dropped (or kept for the next event).
pub(crate) struct LockGuard<'a> {
    file: Arc<File>,
    lock: &'a LockFile,
    /// Whether the lock was held without a break since this process's previous event: no
    /// other process can have written since.
    pub(crate) continued: bool,
    kept_for: u32,
    release: bool,
}

impl LockFile {
    /// Opens (or creates) the lock file at `path`; `watch` covers its directory, with the
    /// lock file's name at `watch_index`.
    pub(crate) fn open(
        path: PathBuf,
        mode: u32,
        watch: Arc<DirWatch>,
        watch_index: usize,
        recreate_dir: bool,
    ) -> Result<LockFile, AuditError> {
        let (file, id) = open_lock(&path, mode)?;
        Ok(LockFile {
            watched: WatchedPath::new(&path)?,
            watch,
            watch_index,
            path,
            mode,
            recreate_dir,
            current: Mutex::new((file, id)),
            kept: AtomicU32::new(0),
        })
    }

    /// Takes the lock. Only one thread of a process may hold it at a time (callers hold the
    /// log's state mutex first): `flock` does not exclude threads sharing one descriptor.
    pub(crate) fn lock(&self) -> Result<LockGuard<'_>, AuditError> {
        // Kept by the previous event for us: already ours, nothing to wait for.
        let mut kept_for = self.kept.swap(0, Ordering::Relaxed);
        loop {
            let (file, id) = self
                .current
                .lock()
                .map(|c| c.clone())
                .unwrap_or_else(|p| p.into_inner().clone());
            if kept_for == 0 {
                file.lock()
                    .map_err(|e| AuditError::io("lock", &self.path, e))?;
            }
            let guard = LockGuard {
                file,
                lock: self,
                continued: kept_for > 0,
                kept_for,
                release: true,
            };
            self.watch.refresh();
            if !self.watch.needs_check(self.watch_index) {
                return Ok(guard);
            }
            // Dropping the guard on an error or a mismatch releases the lock.
            let at_path = self.watched.identity()?.map(|(id, _)| id);
            if at_path == Some(id) {
                self.watch.confirmed(self.watch_index);
                return Ok(guard);
            }
            drop(guard);
            kept_for = 0;
            tracing::warn!(
                target: "audit",
                path = %self.path.display(),
                "the writers' lock file was removed or replaced; locking the file now at its path"
            );
            if at_path.is_none()
                && let Some(dir) = self.path.parent()
                && !dir.is_dir()
            {
                if !self.recreate_dir {
                    return Err(AuditError::io(
                        "find the log directory",
                        dir,
                        io::Error::from(io::ErrorKind::NotFound),
                    ));
                }
                // The whole directory may be gone (`rm -rf` of the log directory): the log
                // goes on in a new one rather than losing every later event.
                fs::create_dir_all(dir).map_err(|e| AuditError::io("create directory", dir, e))?;
            }
            let fresh = open_lock(&self.path, self.mode)?;
            *self.current.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
    }
}

/// The writers' lock file of the log at `log`: `.{name}.lock` in the same directory. The log
/// is replaced on rewrites; this file never is, so a lock on it excludes across rewrites.
pub(crate) fn lock_path(log: &Path) -> PathBuf {
    log.with_file_name(format!(".{}.lock", file_name(log)))
}

/// The writers' lock file as a reader opens it: read-only and never created (a reader leaves
/// nothing behind in a log directory), without following a link and only if it is a regular
/// file, as the writers open it ([`open_regular`]).
pub(crate) struct ReaderLock {
    file: File,
}

/// A shared hold on the writers' lock; released when dropped.
pub(crate) struct SharedGuard<'a> {
    file: &'a File,
}

impl Drop for SharedGuard<'_> {
    fn drop(&mut self) {
        // Closing the descriptor would release it too; an unlock error leaves nothing to do.
        let _ = self.file.unlock();
    }
}

impl ReaderLock {
    /// The lock file of the log at `log`; `None` when there is none that can be opened (a log
    /// not written by this crate, such as the reference's, or read-only media).
    pub(crate) fn open(log: &Path) -> Option<ReaderLock> {
        open_regular(&lock_path(log), Access::Read)
            .ok()
            .map(|file| ReaderLock { file })
    }

    /// Takes the lock shared (readers do not exclude each other, only writers), waiting at
    /// most `wait` for a writer to finish; `None` when it cannot be had in that time or at all
    /// (a file system without locks).
    pub(crate) fn lock_shared(&self, wait: Duration) -> Option<SharedGuard<'_>> {
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_micros(100);
        loop {
            match self.file.try_lock_shared() {
                Ok(()) => return Some(SharedGuard { file: &self.file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(_) => return None,
            }
        }
    }
}

fn open_lock(path: &Path, mode: u32) -> Result<(Arc<File>, FileId), AuditError> {
    let file = open_regular(path, Access::Create { mode })?;
    let id = FileId::of_file(&file, path)?;
    Ok((Arc::new(file), id))
}

impl LockGuard<'_> {
    /// Reads the sidecar's small payload (what a format keeps for the next writer).
    pub(crate) fn read_payload(&self, buf: &mut [u8]) -> Result<usize, AuditError> {
        read_at_most(&self.file, buf, 0).map_err(|e| AuditError::io("read", &self.lock.path, e))
    }

    /// Replaces the payload.
    pub(crate) fn write_payload(&self, bytes: &[u8]) -> Result<(), AuditError> {
        self.file
            .write_all_at(bytes, 0)
            .map_err(|e| AuditError::io("write", &self.lock.path, e))
    }

    /// Ends an event that was written: when `queued` (another thread of this process is
    /// waiting for the log's state mutex to write one, and will take the lock next), keeps
    /// the lock for it instead of releasing and re-taking it, at most [`MAX_KEPT_EVENTS`] in
    /// a row so that other processes get their turn. The next [`LockFile::lock`] then costs
    /// no `flock`, and the writer knows nobody else wrote in between.
    pub(crate) fn keep_if(mut self, queued: bool) {
        if queued && self.kept_for + 1 < MAX_KEPT_EVENTS {
            self.lock.kept.store(self.kept_for + 1, Ordering::Relaxed);
            self.release = false;
        }
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if self.release {
            // Closing the descriptor would release it too; an unlock error leaves nothing to
            // do.
            let _ = self.file.unlock();
        }
    }
}

/// Flushes a directory entry change (a rename or a new file) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AuditError::io("sync directory", dir, e))
}

/// The prefix of every temporary the writers make next to `path`; [`remove_stale_temps`]
/// removes files with it.
fn temp_prefix(path: &Path) -> String {
    format!(".{}.tmp-", file_name(path))
}

/// The length of an open file: `lseek` to its end, which on the file systems we measured
/// costs a fraction of an `fstat` of a file just written. Reads and writes here are
/// positioned or appending, so the descriptor's offset is not used otherwise.
pub(crate) fn len_of(file: &File) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor owned by `file` for the duration of the call.
    let end = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) };
    u64::try_from(end).map_err(|_| io::Error::last_os_error())
}

/// The last component of `path` (empty for `/` or `..`).
pub(crate) fn file_name_os(path: &Path) -> &std::ffi::OsStr {
    path.file_name().unwrap_or_default()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A name for a temporary sibling of `path` that no other process or thread picks.
fn temp_sibling(path: &Path) -> PathBuf {
    // The clock alone can give two threads of this process the same name (a coarse clock,
    // or the same nanosecond); the counter cannot. The process id stays first: it is what
    // `remove_stale_temps` reads.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_file_name(format!(
        "{}{}-{nanos}-{n}",
        temp_prefix(path),
        std::process::id()
    ))
}

/// Creates a new temporary next to `path`, exclusively and never through a link, readable
/// by its owner only until [`adopt_permissions`] gives it its final mode.
fn create_temp(path: &Path) -> Result<(File, PathBuf), AuditError> {
    let temp = temp_sibling(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&temp)
        .map_err(|e| AuditError::io("create a temporary file for", path, detail(e, &temp)))?;
    Ok((file, temp))
}

/// Adds the temporary's name to an error about the log: the message names the log (what the
/// operator knows), the temporary is the detail.
fn detail(e: io::Error, temp: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{e} (temporary file {})", temp.display()))
}

/// The mode and owner a file the writers create should get: those of the file it replaces
/// (an operator's `chmod 600` or `chown` survive a rewrite), else the configured mode.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Permissions {
    New { mode: u32 },
    Like { mode: u32, uid: u32, gid: u32 },
}

impl Permissions {
    /// Those of the regular file at `path`, or a new file's `mode` when there is none.
    pub(crate) fn for_replacing(path: &Path, mode: u32) -> Permissions {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_file() => Permissions::of(&meta),
            _ => Permissions::New { mode },
        }
    }

    pub(crate) fn of(meta: &Metadata) -> Permissions {
        Permissions::Like {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }
}

/// Gives `file` the mode (and, when it copies another file's, the owner) of `permissions`.
/// Changing the owner needs privileges; without them the file stays the writer's, which is
/// reported rather than failing the event.
fn adopt_permissions(file: &File, permissions: Permissions, path: &Path) -> io::Result<()> {
    let mode = match permissions {
        Permissions::New { mode } => mode,
        Permissions::Like { mode, uid, gid } => {
            let meta = file.metadata()?;
            if (meta.uid(), meta.gid()) != (uid, gid)
                && let Err(e) = std::os::unix::fs::fchown(file, Some(uid), Some(gid))
            {
                tracing::warn!(
                    target: "audit",
                    path = %path.display(),
                    error = %e,
                    "cannot give the rewritten log its previous owner {uid}:{gid}; it is now owned by this process's user"
                );
            }
            mode
        }
    };
    file.set_permissions(fs::Permissions::from_mode(mode))
}

/// Writes a new file with `fill`, makes it durable, and renames it over `path`: a crash at
/// any instant leaves either the old file or the complete new one. The new file keeps the
/// mode and owner of the one it replaces (or gets `mode` if there was none). Returns it,
/// open for reading and writing.
pub(crate) fn replace_atomically(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<File, AuditError> {
    replace_atomically_then(path, mode, fill, || Ok(()))
}

/// [`replace_atomically`], running `before_rename` once the new file is durable and just
/// before it takes the path; if that fails, nothing is replaced.
pub(crate) fn replace_atomically_then(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
    before_rename: impl FnOnce() -> io::Result<()>,
) -> Result<File, AuditError> {
    prepare_replacement(path, mode, fill)?.commit(before_rename)
}

/// The first half of [`replace_atomically`]: writes a new file with `fill` and makes it
/// durable, without putting it at `path` yet. The JSON writer builds a rewritten log this way
/// without holding the lock, and commits it under the lock.
pub(crate) fn prepare_replacement(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<Replacement, AuditError> {
    let permissions = Permissions::for_replacing(path, mode);
    let (mut file, temp) = create_temp(path)?;
    let replacement = Replacement {
        file: Some(
            file.try_clone()
                .map_err(|e| AuditError::io("rewrite", path, e))?,
        ),
        temp,
        path: path.to_owned(),
    };
    fill(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| adopt_permissions(&file, permissions, path))
        .and_then(|()| file.sync_all())
        .map_err(|e| AuditError::io("rewrite", path, detail(e, &replacement.temp)))?;
    Ok(replacement)
}

/// A complete, durable new version of a file, under a temporary name next to it until
/// [`commit`](Self::commit) renames it into place. Dropped uncommitted, it is removed.
#[derive(Debug)]
pub(crate) struct Replacement {
    file: Option<File>,
    temp: PathBuf,
    path: PathBuf,
}

impl Replacement {
    /// The new file, open for reading and writing.
    pub(crate) fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    /// Runs `before_rename`, then renames the new file over the path and syncs the
    /// directory. If `before_rename` or the rename fails, nothing is replaced.
    pub(crate) fn commit(
        self,
        before_rename: impl FnOnce() -> io::Result<()>,
    ) -> Result<File, AuditError> {
        self.commit_with(before_rename, true)
    }

    /// [`commit`](Self::commit), syncing the directory only if `sync_dir`: without it a
    /// power loss may leave the old file at the path (a crash of the process cannot).
    pub(crate) fn commit_with(
        mut self,
        before_rename: impl FnOnce() -> io::Result<()>,
        sync_dir_after: bool,
    ) -> Result<File, AuditError> {
        let path = self.path.clone();
        before_rename().map_err(|e| AuditError::io("mark the old version of", &path, e))?;
        fs::rename(&self.temp, &path)
            .map_err(|e| AuditError::io("rename into place", &path, detail(e, &self.temp)))?;
        let file = self.file.take();
        if sync_dir_after && let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        file.ok_or_else(|| AuditError::io("rewrite", &path, io::Error::other("no file")))
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        // Still holding the file means it was never renamed into place.
        if self.file.is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Keeps the bytes of `source` (the log at `path`, which could not be continued as it was)
/// next to it as `<name>.<why>-<timestamp>`, with the log's mode and owner, and returns the
/// copy's path. The copy is made through a temporary and renamed into place, so a crash
/// leaves no partial copy; if an earlier attempt already kept the same bytes (a salvage
/// interrupted before it replaced the log), that copy is returned instead of a second one.
pub(crate) fn keep_aside(path: &Path, source: &File, why: &str) -> Result<PathBuf, AuditError> {
    let meta = source
        .metadata()
        .map_err(|e| AuditError::io("inspect", path, e))?;
    let prefix = format!("{}.{why}-", file_name(path));
    if let Some(existing) = find_identical_copy(path, source, meta.len(), &prefix)? {
        return Ok(existing);
    }
    let stamp = crate::Timestamp::now().to_string().replace(':', "-");
    let mut aside = path.with_file_name(format!("{prefix}{stamp}"));
    let mut n = 1;
    while fs::symlink_metadata(&aside).is_ok() {
        n += 1;
        aside = path.with_file_name(format!("{prefix}{stamp}-{n}"));
    }
    let (mut copy, temp) = create_temp(path)?;
    let result = io::copy(
        &mut ReadAt {
            file: source,
            offset: 0,
        },
        &mut copy,
    )
    .and_then(|_| adopt_permissions(&copy, Permissions::of(&meta), path))
    .and_then(|()| copy.sync_all())
    .and_then(|()| fs::rename(&temp, &aside));
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(AuditError::io("keep a copy of", path, detail(e, &temp)));
    }
    Ok(aside)
}

/// A regular file next to `path` whose name starts with `prefix` and whose bytes are those
/// of `source` (`len` bytes).
fn find_identical_copy(
    path: &Path,
    source: &File,
    len: u64,
    prefix: &str,
) -> Result<Option<PathBuf>, AuditError> {
    let Some(dir) = path.parent() else {
        return Ok(None);
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(None);
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let candidate = entry.path();
        let Ok(meta) = fs::symlink_metadata(&candidate) else {
            continue;
        };
        if !meta.file_type().is_file() || meta.len() != len {
            continue;
        }
        let Ok(copy) = open_regular(&candidate, Access::Read) else {
            continue;
        };
        if same_bytes(source, &copy, len).map_err(|e| AuditError::io("read", path, e))? {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

fn same_bytes(a: &File, b: &File, len: u64) -> io::Result<bool> {
    let mut left = vec![0u8; 64 * 1024];
    let mut right = vec![0u8; 64 * 1024];
    let mut offset = 0;
    while offset < len {
        let take = (len - offset).min(left.len() as u64) as usize;
        a.read_exact_at(&mut left[..take], offset)?;
        b.read_exact_at(&mut right[..take], offset)?;
        if left[..take] != right[..take] {
            return Ok(false);
        }
        offset += take as u64;
    }
    Ok(true)
}

/// Removes temporary files left by a process that died while replacing `path` or keeping a
/// copy of it. A temporary's name carries the process id of its writer: those of processes
/// still running are left alone, because the JSON writer builds a rewrite outside the lock
/// (in this process too).
pub(crate) fn remove_stale_temps(path: &Path) {
    let Some(dir) = path.parent() else {
        return;
    };
    let prefix = temp_prefix(path);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let writer = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<i32>().ok());
        if writer.is_some_and(process_is_running) {
            continue;
        }
        let _ = fs::remove_file(entry.path());
    }
}

/// Whether a process with this id exists (a signal-0 probe: `EPERM` means it exists but is
/// another user's).
fn process_is_running(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"old").unwrap();
        let err = replace_atomically(&path, 0o600, |f| {
            f.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
        replace_atomically(&path, 0o600, |f| f.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn identity_changes_when_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"a").unwrap();
        let before = FileId::of_path(&path).unwrap();
        replace_atomically(&path, 0o600, |f| f.write_all(b"b")).unwrap();
        assert_ne!(FileId::of_path(&path).unwrap(), before);
        assert_eq!(FileId::of_path(&dir.path().join("missing")).unwrap(), None);
    }

    #[test]
    fn rewrite_errors_name_the_log_not_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit_log.json");
        let err =
            replace_atomically(&path, 0o600, |_| Err(io::Error::other("disk full"))).unwrap_err();
        match &err {
            AuditError::Io { path: named, .. } => assert_eq!(named, &path),
            other => panic!("{other:?}"),
        }
        // The message names the log; the cause, with the temporary as its detail, is the
        // source, shown once by the full message.
        assert!(err.to_string().ends_with("audit_log.json"), "{err}");
        let message = err.full_message();
        assert!(message.contains("audit_log.json: disk full"), "{message}");
        assert!(message.contains(".audit_log.json.tmp-"), "{message}");
        assert_eq!(message.matches("disk full").count(), 1, "{message}");
    }

    #[test]
    fn rewrite_keeps_mode_and_new_files_get_the_configured_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        replace_atomically(&path, 0o640, |f| f.write_all(b"a")).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();
        replace_atomically(&path, 0o600, |f| f.write_all(b"b")).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o604);
    }

    #[test]
    fn a_paced_copy_stops_at_the_next_step_once_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let source = File::create(dir.path().join("source")).unwrap();
        source.set_len(4 * PacedWriter::STEP).unwrap();
        let source = File::open(dir.path().join("source")).unwrap();
        let out = File::create(dir.path().join("out")).unwrap();
        let stop = AtomicBool::new(false);
        let mut paced = PacedWriter::new(&out).stopping_when(&stop);
        paced.copy(&source, 0, PacedWriter::STEP).unwrap();
        stop.store(true, Ordering::Relaxed);
        let err = paced.copy(&source, 0, 3 * PacedWriter::STEP).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        let copied = out.metadata().unwrap().len();
        assert!(
            copied <= 2 * PacedWriter::STEP,
            "{copied} bytes copied after the stop"
        );
    }

    #[test]
    fn open_regular_refuses_links_directories_and_fifos() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for (path, found) in [
            (&link, "a symbolic link"),
            (&dir.path().to_owned(), "a directory"),
            (&fifo, "a FIFO"),
        ] {
            for access in [
                Access::Read,
                Access::ReadWrite,
                Access::Create { mode: 0o600 },
            ] {
                match open_regular(path, access) {
                    Err(AuditError::NotARegularFile { found: f, .. }) => assert_eq!(f, found),
                    other => panic!("{path:?} {access:?}: {other:?}"),
                }
            }
        }
        assert_eq!(fs::read(&target).unwrap(), b"secret");
    }

    #[test]
    fn keep_aside_makes_one_copy_of_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit_log.json");
        fs::write(&path, b"[{broken").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let source = File::open(&path).unwrap();
        let first = keep_aside(&path, &source, "corrupt").unwrap();
        let second = keep_aside(&path, &source, "corrupt").unwrap();
        assert_eq!(first, second);
        assert_eq!(fs::read(&first).unwrap(), b"[{broken");
        assert_eq!(fs::metadata(&first).unwrap().mode() & 0o7777, 0o640);
        fs::write(&path, b"[{broken differently").unwrap();
        let third = keep_aside(&path, &File::open(&path).unwrap(), "corrupt").unwrap();
        assert_ne!(first, third);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}
