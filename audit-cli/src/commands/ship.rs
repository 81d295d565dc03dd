//! `auditlog ship`: a log's events into PostgreSQL, exactly once, from the cursor beside the
//! log; with `--follow`, new events as they are written, until SIGINT or SIGTERM. For
//! servers that cannot be changed, including logs the Python reference writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use audit_runtime::ship::{ShipConfig, ship_log};

use crate::CliError;
use crate::cli::ShipArgs;
use crate::source;

/// Set by SIGINT and SIGTERM: stop after the batch being shipped.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Ships the log.
pub fn ship(args: &ShipArgs) -> Result<u8, CliError> {
    let log = source::open(&args.path)?;
    let experiment = args.experiment.clone().unwrap_or_else(|| {
        log.path
            .parent()
            .and_then(|dir| std::fs::canonicalize(dir).ok())
            .and_then(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default()
    });
    let mut config = ShipConfig::new(args.db.clone())
        .batch_size(args.batch_size)
        .poll_interval(Duration::from_millis(args.poll_ms.max(1)));
    if let Some(host) = &args.host {
        config = config.host(host.clone());
    }
    if args.follow {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                libc::SIGINT,
                on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t,
            );
            libc::signal(
                libc::SIGTERM,
                on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t,
            );
        }
    }
    let report = ship_log(
        &log.path,
        log.format,
        &experiment,
        config,
        args.follow,
        &STOP,
    )?;
    let stats = report.stats;
    eprintln!(
        "auditlog: {}: {} events in {} (log id {}); sent {} now, {} of them new",
        log.path.display(),
        stats.shipped_seq,
        stats.database,
        stats.log_id.as_deref().unwrap_or("-"),
        stats.events_sent,
        stats.events_inserted,
    );
    Ok(0)
}
