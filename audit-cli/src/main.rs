//! `auditlog`: the command-line tool for audit logs. Everything lives in the library so the
//! benchmark example and the tests can reach it; this only maps the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = audit_cli::Cli::parse();
    match audit_cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("auditlog: {}", err.message);
            ExitCode::from(err.code)
        }
    }
}
