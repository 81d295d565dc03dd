//! The example experiment server: a WeightsLab-compatible `ExperimentService` over an
//! in-memory experiment, every call audited.
//!
//! ```text
//! cargo run --example experiment_server -- [--addr HOST:PORT] [--log-dir DIR] [--format json|csv|none]
//!     [--signing-key PATH] [--fail-closed] [--stats-file PATH] [--stats-every SECS]
//! ```
//! - `--addr`: default `GRPC_BACKEND_HOST`:`GRPC_BACKEND_PORT` (each defaulting to
//!   `127.0.0.1` and `50051`).
//! - `--log-dir`: default `./runs/demo`.
//! - `--format`: default `AUDIT_LOG_FORMAT`, else `json`.
//! - `--fail-closed`: refuse calls (`UNAVAILABLE`) while the audit log cannot take events.
//! - The logger's counters (events written, failed, refused, ...) are printed as one line at
//!   shutdown and whenever the process gets SIGUSR1 (`kill -USR1 <pid>`), and written to a
//!   stats file (`--stats-file`, default `<log dir>/audit_log.stats.json`) then, and every
//!   `--stats-every` seconds (default 10; 0: only on SIGUSR1 and at exit), atomically.
//!   `auditlog stats <log dir>` prints them.
//! - `--signing-key`: a private key from `auditlog keygen`: hash chain and signed digests
//!   (default: `AUDIT_LOG_SIGNING_KEY`, else none).
//! - `GRPC_AUTH_TOKENS=alice:tok-a,bob:tok-b`: require one of these tokens
//!   (`authorization: Bearer <token>` or `x-api-key`); callers are logged by name.
//!
//! Ctrl-C or SIGTERM stops it cleanly: running calls finish and every event is on disk.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audited::tonic_layer::IdentityLayer;
use audited::{AuditLogger, Format};
use experiment_service::experiment::Experiment;
use experiment_service::server::{ExperimentServer, identity_for_service, serve};

const USAGE: &str =
    "usage: experiment_server [--addr HOST:PORT] [--log-dir DIR] [--format json|csv|none]
                         [--signing-key PATH] [--fail-closed]
                         [--stats-file PATH] [--stats-every SECS]

  --addr              where to listen (default: $GRPC_BACKEND_HOST:$GRPC_BACKEND_PORT, else 127.0.0.1:50051)
  --log-dir           the audit log's directory (default: ./runs/demo)
  --format            json, csv or none (default: $AUDIT_LOG_FORMAT, else json)
  --signing-key PATH  tamper evidence: hash chain and signed digests with this private key
                      (from `auditlog keygen`; default: $AUDIT_LOG_SIGNING_KEY, else off)
  --fail-closed       refuse calls (UNAVAILABLE) while the audit log cannot take events

  --stats-file PATH   where to write the audit logger's counters as JSON
                      (default: <log dir>/audit_log.stats.json); `auditlog stats` prints them
  --stats-every SECS  also write them every SECS seconds (default 10; 0: never on a timer)

  SIGUSR1 prints the audit logger's counters and writes the stats file (both also at
  shutdown)

  GRPC_AUTH_TOKENS=name:token,...  require a token; callers are logged by name";

struct Args {
    addr: String,
    log_dir: PathBuf,
    format: Option<Format>,
    fail_closed: bool,
    signing_key: Option<PathBuf>,
    stats_file: Option<PathBuf>,
    stats_every: Duration,
}

fn parse_args() -> Result<Args, String> {
    let host = std::env::var("GRPC_BACKEND_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("GRPC_BACKEND_PORT").unwrap_or_else(|_| "50051".into());
    let mut args = Args {
        addr: format!("{host}:{port}"),
        log_dir: PathBuf::from("runs/demo"),
        format: None,
        fail_closed: false,
        signing_key: None,
        stats_file: None,
        stats_every: Duration::from_secs(10),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if flag == "--fail-closed" && inline.is_none() {
            args.fail_closed = true;
            continue;
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        match flag.as_str() {
            "--addr" => args.addr = value()?,
            "--log-dir" => args.log_dir = PathBuf::from(value()?),
            "--format" => {
                let v = value()?;
                args.format = Some(v.parse().map_err(|e| format!("--format: {e}"))?);
            }
            "--signing-key" => args.signing_key = Some(PathBuf::from(value()?)),
            "--stats-file" => args.stats_file = Some(PathBuf::from(value()?)),
            "--stats-every" => {
                let v = value()?;
                let secs: u64 = v
                    .parse()
                    .map_err(|_| format!("--stats-every: {v:?} is not a number of seconds"))?;
                args.stats_every = Duration::from_secs(secs);
            }
            _ => return Err(format!("unknown argument {arg:?}\n\n{USAGE}")),
        }
    }
    Ok(args)
}

/// Writes the logger's counters to `path` (atomically: a reader sees the last snapshot or
/// this one), off the async workers since it waits for the disk.
async fn write_stats(logger: &AuditLogger, path: &std::path::Path) {
    let (logger, path) = (logger.clone(), path.to_owned());
    let written = tokio::task::spawn_blocking(move || logger.write_stats_file(&path)).await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("cannot write the audit stats file: {}", e.full_message()),
        Err(e) => eprintln!("cannot write the audit stats file: {e}"),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                eprintln!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    eprintln!("shutting down: finishing running calls");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The runtime reports through `tracing` (target "audit"): recoveries, failed events.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let addr: SocketAddr = tokio::net::lookup_host(&args.addr)
        .await?
        .next()
        .ok_or_else(|| format!("cannot resolve {}", args.addr))?;

    let mut builder = AuditLogger::builder(&args.log_dir).experiment("experiment_server");
    if let Some(format) = args.format {
        builder = builder.format(format);
    }
    if let Some(key) = &args.signing_key {
        builder = builder.signing_key(key);
    }
    let logger = builder.fail_closed(args.fail_closed).build()?;
    let log_path = logger.path().map_or_else(
        || "nowhere (format none)".to_owned(),
        |p| p.display().to_string(),
    );
    let identity = identity_for_service(IdentityLayer::from_env()?).logger(logger.clone());
    let auth = if identity.requires_token() {
        "tokens required (GRPC_AUTH_TOKENS)"
    } else {
        "no tokens configured: callers identified by address"
    };
    let stats_file = args
        .stats_file
        .clone()
        .unwrap_or_else(|| args.log_dir.join(audited::STATS_FILE_NAME));
    write_stats(&logger, &stats_file).await;
    #[cfg(unix)]
    {
        let (logger, stats_file) = (logger.clone(), stats_file.clone());
        // Listening before the address is announced: a SIGUSR1 sent before would kill the
        // process (the default action), so whoever starts the server may send one as soon
        // as it says where it listens.
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) {
            Ok(mut usr1) => {
                tokio::spawn(async move {
                    while usr1.recv().await.is_some() {
                        println!("audit health: {}", logger.stats());
                        write_stats(&logger, &stats_file).await;
                    }
                });
            }
            Err(e) => eprintln!("cannot listen for SIGUSR1: {e}"),
        }
    }
    if !args.stats_every.is_zero() {
        let (logger, stats_file) = (logger.clone(), stats_file.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(args.stats_every);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            // The first tick is now: the file was just written.
            every.tick().await;
            loop {
                every.tick().await;
                write_stats(&logger, &stats_file).await;
            }
        });
    }

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("ExperimentService listening on {}", listener.local_addr()?);
    println!("audit log: {log_path}");
    println!("audit stats: {}", stats_file.display());
    println!("auth: {auth}");
    if args.fail_closed {
        println!("fail-closed: calls are refused while the audit log cannot take events");
    }
    let service = ExperimentServer::new(Arc::new(Experiment::default()), logger.clone());
    serve(listener, service, identity, shutdown_signal()).await?;

    // Every event is already in the file; make it durable before saying so.
    let flushed = logger.flush();
    println!("audit health: {}", logger.stats());
    write_stats(&logger, &stats_file).await;
    flushed?;
    let summary = logger.get_log_summary()?;
    println!("stopped; {} events in {log_path}", summary.total_events);
    Ok(())
}
