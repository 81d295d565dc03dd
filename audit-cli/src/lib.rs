//! # audit-cli
//!
//! The `auditlog` command: summarise, query, export, verify and follow audit logs in the
//! spec's JSON and CSV formats, streaming (one event in memory at a time) so that a log of
//! any size can be read.
//!
//! Exit codes: 0 all well, 1 problems found (`verify`) or no match with `--fail-on-empty`,
//! 2 usage or I/O errors (and logs that cannot be read). Messages name the file and the cause.

pub mod cli;
pub mod commands;
pub mod error;
pub mod filter;
pub mod output;
pub mod progress;
pub mod reader;
pub mod snapshot;
pub mod source;
pub mod stats;

pub use cli::Cli;
pub use error::CliError;

/// Runs one command; `Ok` carries the exit code (0, or 1 when problems were found).
pub fn run(cli: Cli) -> Result<u8, CliError> {
    commands::run(cli)
}
