//! Finding the log: a directory holding `audit_log.json` or `audit_log.csv`, or a file whose
//! format is told by its content (not only its extension).

use std::path::{Path, PathBuf};

use audit_runtime::Format;
use audit_runtime::read::detect;

use crate::CliError;

/// A log file found and its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// The file.
    pub path: PathBuf,
    /// JSON or CSV.
    pub format: Format,
    /// Something the user should know about the choice (printed on stderr).
    pub note: Option<String>,
}

impl LogFile {
    /// The file's length now.
    pub fn len(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }
}

/// Where the log of `format` is in the log directory `dir`, as the runtime names it.
fn in_dir(dir: &Path, format: Format) -> PathBuf {
    dir.join(format.file_name().unwrap_or_default())
}

/// Whether there is a log at `path`: the file, or one in the directory.
pub fn holds_a_log(path: &Path) -> bool {
    if path.is_dir() {
        in_dir(path, Format::Json).is_file() || in_dir(path, Format::Csv).is_file()
    } else {
        path.exists()
    }
}

/// Resolves a command's PATH argument.
pub fn resolve(path: &Path) -> Result<LogFile, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::failure(format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_dir() {
        let format = detect(path)?;
        return Ok(LogFile {
            path: path.to_owned(),
            format,
            note: None,
        });
    }
    let json = in_dir(path, Format::Json);
    let csv = in_dir(path, Format::Csv);
    let (file, note) = match (json.is_file(), csv.is_file()) {
        (true, true) => (
            json,
            Some(format!(
                "{} holds both audit_log.json and audit_log.csv; reading audit_log.json \
                 (pass the file itself to read the other)",
                path.display()
            )),
        ),
        (true, false) => (json, None),
        (false, true) => (csv, None),
        (false, false) => {
            return Err(CliError::failure(format!(
                "{} holds no audit log (no audit_log.json or audit_log.csv)",
                path.display()
            )));
        }
    };
    let format = detect(&file)?;
    Ok(LogFile {
        path: file,
        format,
        note,
    })
}

/// Resolves PATH and prints the note about the choice, if any.
pub fn open(path: &Path) -> Result<LogFile, CliError> {
    let log = resolve(path)?;
    if let Some(note) = &log.note {
        eprintln!("auditlog: note: {note}");
    }
    Ok(log)
}
