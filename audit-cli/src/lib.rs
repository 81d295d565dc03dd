//! # audit-cli
//!
//! The `auditlog` command: summarise, query, export, verify and follow audit logs in the
//! spec's JSON and CSV formats, streaming (one event in memory at a time) so that a log of
//! any size can be read. Everything it reads goes through [`audit_runtime::read`]; this crate
//! only chooses what to read and prints it.
//!
//! Exit codes: 0 all well, 1 problems found (`verify`) or no match with `--fail-on-empty`,
//! 2 usage or I/O errors (and logs that cannot be read). Messages name the file and the cause.

mod cli;
mod commands;
mod error;
mod filter;
mod output;
mod progress;
mod source;
mod stats;

use std::path::Path;

pub use cli::Cli;
pub use error::CliError;

/// Runs one command; `Ok` carries the exit code (0, or 1 when problems were found).
pub fn run(cli: Cli) -> Result<u8, CliError> {
    commands::run(cli)
}

/// `auditlog verify <path> [--key <key>]`: prints what it prints and returns its exit code
/// (0 all holds, 1 a problem was found).
pub fn verify(path: &Path, key: Option<&Path>) -> Result<u8, CliError> {
    commands::verify(&cli::VerifyArgs {
        paths: vec![path.to_owned()],
        key: key.map(Path::to_owned),
        threads: None,
    })
}

/// [`verify`] reading with `threads` threads (1 or 2, as `--threads`).
pub fn verify_with_threads(path: &Path, key: Option<&Path>, threads: u8) -> Result<u8, CliError> {
    commands::verify(&cli::VerifyArgs {
        paths: vec![path.to_owned()],
        key: key.map(Path::to_owned),
        threads: Some(threads.clamp(1, 2)),
    })
}

/// What `auditlog summary <path>` prints (without colour when `colour` is false), for
/// programs that show the same table, such as the demo. `path` is a log file or a directory
/// holding one. Unlike the command, it prints nothing itself, not even the note about which
/// file of a directory it chose.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let logger = audit_runtime::AuditLogger::builder(dir.path())
///     .format(audit_runtime::Format::Json)
///     .build()?;
/// logger.log_event("pause", audit_runtime::Status::Success, serde_json::json!({}), None)?;
/// let table = audit_cli::summary_text(dir.path(), false)?;
/// assert!(table.contains("events:    1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn summary_text(path: &Path, colour: bool) -> Result<String, CliError> {
    commands::summary_text(path, colour)
}
