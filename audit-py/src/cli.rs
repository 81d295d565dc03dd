//! `python -m audited ...`: the `auditlog` command line (summary, query, export, verify,
//! tail), for people who have the Python package but no Rust toolchain. It is the
//! `audit-cli` crate's own [`audit_cli::run`], so both print exactly the same.

use clap::Parser;
use pyo3::prelude::*;

use crate::diagnostics;

/// `run_cli(argv)`: runs `auditlog` with `argv` (`argv[0]` is the program name shown in
/// usage messages) and returns its exit code: 0 done, 1 problems found, 2 usage or I/O
/// error. Prints to stdout and stderr, as the command does; the runtime's reports go to
/// stderr from now on in this process.
#[pyfunction]
pub fn run_cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    diagnostics::send_to_stderr();
    let cli = match audit_cli::Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    // `tail -f` runs until interrupted: other Python threads go on meanwhile.
    let outcome = py.detach(|| audit_cli::run(cli));
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("auditlog: {}", err.message);
            err.code
        }
    }
}
