//! `auditlog`: the command-line tool for audit logs. Everything lives in the library so the
//! benchmark example and the tests can reach it; this only maps the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // What the runtime reports (a log it had to recover, say) goes to stderr with our own
    // messages.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let cli = audit_cli::Cli::parse();
    match audit_cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("auditlog: {}", err.message);
            ExitCode::from(err.code)
        }
    }
}
