//! Whether a log can take an event, checked before a fail-closed call runs: the directory is
//! there, the path holds a regular file or nothing, and, after a failed write, the directory
//! is writable and has room (on the file system, and under the process's file-size limit).
//! Cheap enough for every call (one `lstat` while the log is there; after a failure also
//! `access`, `statvfs` and `getrlimit`), and never writes: the event's own
//! write is the real test.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Less free space than this after a failed write keeps refusing: an event and the room a
/// JSON log's gap rewrite needs to start.
pub(crate) const MIN_FREE_BYTES: u64 = 1 << 20;

/// Why the log at `path` cannot take an event now, if it cannot. `after_failure`: the last
/// write failed, so also check what that failure may have been (permissions, space).
pub(crate) fn check(path: &Path, after_failure: bool) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // The log itself first: a regular file there means its directory is there too, so the
    // common case costs one lookup.
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(meta) => {
            let kind = meta.file_type();
            let found = if kind.is_symlink() {
                "a symbolic link"
            } else if kind.is_dir() {
                "a directory"
            } else if kind.is_fifo() {
                "a FIFO"
            } else {
                "not a regular file"
            };
            return Err(format!("{} is {found}", path.display()));
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            check_directory(dir)?;
        }
        Err(e) => return Err(format!("cannot look up {}: {e}", path.display())),
    }
    if !after_failure {
        return Ok(());
    }
    if !writable(dir) {
        return Err(format!("{} is not writable", dir.display()));
    }
    if path.exists() && !writable(path) {
        return Err(format!("{} is not writable", path.display()));
    }
    match free_bytes(dir) {
        Some(free) if free < MIN_FREE_BYTES => {
            return Err(format!(
                "{} has {free} bytes free (less than {MIN_FREE_BYTES})",
                dir.display()
            ));
        }
        _ => {}
    }
    // A process-wide file-size limit fails writes (EFBIG) as a full disk does (ENOSPC),
    // though the file system has room: measured the same way, against the log's size.
    match file_size_limit() {
        Some(limit) => {
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            let room = limit.saturating_sub(size);
            if room < MIN_FREE_BYTES {
                return Err(format!(
                    "{} is {size} bytes, {room} bytes short of this process's file-size \
                     limit (RLIMIT_FSIZE {limit}; less than {MIN_FREE_BYTES} bytes of room)",
                    path.display()
                ));
            }
            Ok(())
        }
        None => Ok(()),
    }
}

/// This process's file-size limit (`RLIMIT_FSIZE`, the soft one that `write(2)` enforces),
/// if it has one.
fn file_size_limit() -> Option<u64> {
    // SAFETY: an all-zero `rlimit` is a valid value for the call to fill in.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call's duration.
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    Some(limit.rlim_cur)
}

/// Why the log's directory cannot hold a new log, if it cannot.
fn check_directory(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!("{} is not a directory", dir.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(format!("the log directory {} is missing", dir.display()))
        }
        Err(e) => Err(format!("cannot look up {}: {e}", dir.display())),
    }
}

/// Whether this process may write `path` (`access(2)` with the effective ids).
fn writable(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string for the call's duration.
    unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::W_OK,
            libc::AT_EACCESS,
        ) == 0
    }
}

/// Bytes an unprivileged writer may still use on the file system of `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let c_dir = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero `statvfs` is a valid value for the call to fill in.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call's duration.
    if unsafe { libc::statvfs(c_dir.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_or_a_planted_link_fails_and_a_missing_file_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run/audit_log.json");
        let err = check(&log, false).unwrap_err();
        assert!(err.contains("is missing"), "{err}");
        std::fs::create_dir(dir.path().join("run")).unwrap();
        check(&log, false).unwrap();
        check(&log, true).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &log).unwrap();
        assert!(check(&log, false).unwrap_err().contains("symbolic link"));
        std::fs::remove_file(&log).unwrap();
        std::fs::create_dir(&log).unwrap();
        assert!(check(&log, false).unwrap_err().contains("a directory"));
        std::fs::remove_dir(&log).unwrap();
        std::fs::write(&log, "[]").unwrap();
        check(&log, true).unwrap();
        // The directory replaced by a file.
        std::fs::remove_dir_all(dir.path().join("run")).unwrap();
        std::fs::write(dir.path().join("run"), "").unwrap();
        assert!(check(&log, false).unwrap_err().contains("not a directory"));
    }

    #[test]
    fn free_space_is_read() {
        assert!(free_bytes(Path::new("/")).is_some());
    }
}
