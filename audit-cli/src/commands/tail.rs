//! `auditlog tail`: the newest N events, oldest of them first (like `tail`), and with `-f`
//! every event written afterwards, by this process or any other, until interrupted.
//!
//! What is read, and how a log being written (in place, rewritten, replaced) is followed, is
//! [`audit_runtime::read::Follow`]'s job; this prints, and decides how often to look.

use std::path::Path;
use std::time::Duration;

use audit_runtime::read::Follow;

use super::note_cut_off;
use crate::CliError;
use crate::cli::TailArgs;
use crate::output::Printer;
use crate::source;

/// With `-f`, a log that does not exist yet is waited for (like `tail -F`): a server that has
/// not logged its first event, or a directory not created yet. Anything else that is wrong
/// with the path is reported by [`source::open`] as without `-f`.
fn wait_for_a_log(path: &Path, poll: Duration) {
    if source::holds_a_log(path) {
        return;
    }
    eprintln!("auditlog: waiting for {} to appear", path.display());
    while !source::holds_a_log(path) {
        std::thread::sleep(poll);
    }
}

/// Prints the newest events, then follows the log if asked.
pub fn tail(args: &TailArgs) -> Result<u8, CliError> {
    let poll = Duration::from_millis(args.poll_ms.max(10));
    if args.follow {
        wait_for_a_log(&args.path, poll);
    }
    let log = source::open(&args.path)?;
    let mut printer = Printer::<std::io::BufWriter<std::io::Stdout>>::stdout(args.output);
    let (mut follow, recent) = Follow::start(&log.path, log.format, args.count)?;
    note_cut_off(&log, follow.cut_off_end());
    for event in &recent {
        printer.event(event)?;
    }
    if !args.follow {
        printer.finish()?;
        return Ok(0);
    }
    printer.flush()?;
    loop {
        std::thread::sleep(poll);
        for event in follow.poll() {
            printer.event(&event)?;
        }
        printer.flush()?;
    }
}
