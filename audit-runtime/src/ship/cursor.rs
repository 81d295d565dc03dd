//! The persisted cursor: how far a log has been shipped to one database, in a small file
//! beside the log (`.audit_log.json.shipped-<8 hex digits of the database URL>`).
//!
//! It is written only after the batch it describes was committed, and written crash-safely
//! (a temporary file, synced, renamed over the old one, the directory synced), so after a
//! crash at any moment it says either the batch before or the batch after: at worst a batch
//! is sent again, and the database's key makes that a no-op. Losing it costs only time: the
//! log's id is derived from the log itself, so shipping again from the start sends the same
//! keys.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::source::Position;
use crate::AuditError;

/// The cursor file's format version.
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    version: u32,
    /// Which database (the URL without its password), for a person reading the file.
    database: String,
    #[serde(flatten)]
    position: Position,
}

/// Where the cursor of the log at `log` for the database `shown_url` is kept.
pub(crate) fn path_for(log: &Path, shown_url: &str) -> PathBuf {
    let digest = Sha256::digest(shown_url.as_bytes());
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let name = log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    log.with_file_name(format!(".{name}.shipped-{tag}"))
}

/// Reads the cursor; a missing one is the start. A cursor that cannot be read (damaged, or
/// from a newer version) is reported and taken as the start: shipping again from the start
/// is safe.
pub(crate) fn load(path: &Path) -> Position {
    let start = Position {
        log_id: None,
        seq: 0,
        last: None,
    };
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return start,
        Err(e) => {
            tracing::warn!(target: "audit", path = %path.display(),
                "cannot read the shipping cursor ({e}); shipping the log from its start \
                 (events already in the database are not sent twice)");
            return start;
        }
    };
    match serde_json::from_slice::<Saved>(&text) {
        Ok(saved) if saved.version == VERSION => saved.position,
        Ok(saved) => {
            tracing::warn!(target: "audit", path = %path.display(),
                "the shipping cursor has version {}, not {VERSION}; shipping the log from its \
                 start (events already in the database are not sent twice)", saved.version);
            start
        }
        Err(e) => {
            tracing::warn!(target: "audit", path = %path.display(),
                "the shipping cursor is damaged ({e}); shipping the log from its start \
                 (events already in the database are not sent twice)");
            start
        }
    }
}

/// Replaces the cursor atomically and durably.
pub(crate) fn save(path: &Path, shown_url: &str, position: &Position) -> Result<(), AuditError> {
    let saved = Saved {
        version: VERSION,
        database: shown_url.to_owned(),
        position: position.clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&saved).map_err(|source| AuditError::Serialize {
        what: "the shipping cursor",
        source,
    })?;
    bytes.push(b'\n');
    let temp = path.with_file_name(format!(
        "{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        file.write_all(&bytes)?;
        file.sync_data()?;
        fs::rename(&temp, path)?;
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&temp);
        AuditError::io("write the shipping cursor", path, e)
    })
}
