//! File-system building blocks shared by the writers: the cross-process lock, file identity,
//! positioned I/O and atomic replacement. Nothing here knows about events.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::AuditError;
pub(crate) use crate::read::read_at_most;

/// Which file an open handle or a path refers to. Regrowth replaces the log by renaming a new
/// file over it, so a writer compares the identity of its handle with the path's before each
/// write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub(crate) fn of_file(file: &File, path: &Path) -> Result<FileId, AuditError> {
        let meta = file
            .metadata()
            .map_err(|e| AuditError::io("inspect", path, e))?;
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Whether `file` is still the file at `path` (not renamed over or deleted).
    ///
    /// Checked before every write, so it must be cheap: one `fstat` of the open handle. A
    /// file replaced by a rename or removed has no links left; only when it has an unusual
    /// link count (someone hard-linked it) does this fall back to comparing with the path.
    /// Returns the file's length when it is still the file at `path`, `None` when stale.
    pub(crate) fn len_if_current(
        self,
        file: &File,
        path: &Path,
    ) -> Result<Option<u64>, AuditError> {
        let meta = file
            .metadata()
            .map_err(|e| AuditError::io("inspect", path, e))?;
        let current = match meta.nlink() {
            0 => false,
            1 => true,
            _ => FileId::of_path(path)? == Some(self),
        };
        Ok(current.then_some(meta.len()))
    }

    /// The identity of whatever is at `path` now, or `None` if nothing is.
    pub(crate) fn of_path(path: &Path) -> Result<Option<FileId>, AuditError> {
        match fs::metadata(path) {
            Ok(meta) => Ok(Some(FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AuditError::io("inspect", path, e)),
        }
    }
}

/// An advisory lock on a small sidecar file that is never replaced (the log itself is, on
/// regrowth, so locking it would not exclude a process holding the new file).
#[derive(Debug)]
pub(crate) struct LockFile {
    file: File,
    path: PathBuf,
}

/// Holds the cross-process lock until dropped.
pub(crate) struct LockGuard<'a> {
    lock: &'a LockFile,
}

impl LockFile {
    pub(crate) fn open(path: PathBuf) -> Result<LockFile, AuditError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| AuditError::io("create lock file", &path, e))?;
        Ok(LockFile { file, path })
    }

    pub(crate) fn lock(&self) -> Result<LockGuard<'_>, AuditError> {
        self.file
            .lock()
            .map_err(|e| AuditError::io("lock", &self.path, e))?;
        Ok(LockGuard { lock: self })
    }

    /// Reads the sidecar's small payload (the newest timestamp, for formats whose newest
    /// event is expensive to find). Only call with the lock held.
    pub(crate) fn read_payload(&self, buf: &mut [u8]) -> Result<usize, AuditError> {
        read_at_most(&self.file, buf, 0).map_err(|e| AuditError::io("read", &self.path, e))
    }

    /// Replaces the payload. Only call with the lock held.
    pub(crate) fn write_payload(&self, bytes: &[u8]) -> Result<(), AuditError> {
        self.file
            .write_all_at(bytes, 0)
            .map_err(|e| AuditError::io("write", &self.path, e))
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // Closing the descriptor would release it too; an unlock error leaves nothing to do.
        let _ = self.lock.file.unlock();
    }
}

/// Flushes a directory entry change (a rename or a new file) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AuditError::io("sync directory", dir, e))
}

/// A name for a temporary sibling of `path` that no other process or thread picks.
pub(crate) fn temp_sibling(path: &Path, purpose: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{purpose}-{}-{nanos}", std::process::id()))
}

/// Writes a new file with `fill`, makes it durable, and renames it over `path`: a crash at
/// any instant leaves either the old file or the complete new one. Returns the new file,
/// open for reading and writing.
pub(crate) fn replace_atomically(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<File, AuditError> {
    replace_atomically_then(path, fill, || Ok(()))
}

/// [`replace_atomically`], running `before_rename` once the new file is durable and just
/// before it takes the path; if that fails, nothing is replaced.
pub(crate) fn replace_atomically_then(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
    before_rename: impl FnOnce() -> io::Result<()>,
) -> Result<File, AuditError> {
    let temp = temp_sibling(path, "tmp");
    let result = (|| {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| AuditError::io("create", &temp, e))?;
        fill(&mut file)
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_all())
            .map_err(|e| AuditError::io("write", &temp, e))?;
        before_rename().map_err(|e| AuditError::io("mark the old version of", path, e))?;
        fs::rename(&temp, path).map_err(|e| AuditError::io("rename into place", path, e))?;
        Ok(file)
    })();
    match result {
        Ok(file) => {
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
            Ok(file)
        }
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Copies the original bytes of a log that could not be continued as it was next to it,
/// as `<name>.corrupt-<timestamp>`, and returns the copy's path.
pub(crate) fn keep_aside(path: &Path, why: &str) -> Result<PathBuf, AuditError> {
    let stamp = crate::Timestamp::now().to_string().replace(':', "-");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = path.with_file_name(format!("{name}.{why}-{stamp}"));
    fs::copy(path, &aside).map_err(|e| AuditError::io("keep a copy of", path, e))?;
    if let Ok(copy) = File::open(&aside) {
        let _ = copy.sync_all();
    }
    Ok(aside)
}

/// Removes temporary files left by a process that died while replacing `path`. Only call
/// with the lock held: replacement happens entirely under it, so any such file is stale.
pub(crate) fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"old").unwrap();
        let err = replace_atomically(&path, |f| {
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
        replace_atomically(&path, |f| f.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn identity_changes_when_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"a").unwrap();
        let before = FileId::of_path(&path).unwrap();
        replace_atomically(&path, |f| f.write_all(b"b")).unwrap();
        assert_ne!(FileId::of_path(&path).unwrap(), before);
        assert_eq!(FileId::of_path(&dir.path().join("missing")).unwrap(), None);
    }
}
