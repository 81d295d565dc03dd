//! The example experiment server: a WeightsLab-compatible `ExperimentService` over an
//! in-memory experiment, every call audited.
//!
//! ```text
//! cargo run --example experiment_server -- [--addr HOST:PORT] [--log-dir DIR] [--format json|csv|none]
//!     [--signing-key PATH] [--fail-closed]
//! ```
//! - `--addr`: default `GRPC_BACKEND_HOST`:`GRPC_BACKEND_PORT` (each defaulting to
//!   `127.0.0.1` and `50051`).
//! - `--log-dir`: default `./runs/demo`.
//! - `--format`: default `AUDIT_LOG_FORMAT`, else `json`.
//! - `--fail-closed`: refuse calls (`UNAVAILABLE`) while the audit log cannot take events.
//! - The logger's counters (events written, failed, refused, ...) are printed as one line at
//!   shutdown and whenever the process gets SIGUSR1 (`kill -USR1 <pid>`).
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

use audited::tonic_layer::IdentityLayer;
use audited::{AuditLogger, Format};
use experiment_service::experiment::Experiment;
use experiment_service::server::{ExperimentServer, identity_for_service, serve};

const USAGE: &str =
    "usage: experiment_server [--addr HOST:PORT] [--log-dir DIR] [--format json|csv|none]
                         [--signing-key PATH] [--fail-closed]

  --addr              where to listen (default: $GRPC_BACKEND_HOST:$GRPC_BACKEND_PORT, else 127.0.0.1:50051)
  --log-dir           the audit log's directory (default: ./runs/demo)
  --format            json, csv or none (default: $AUDIT_LOG_FORMAT, else json)
  --signing-key PATH  tamper evidence: hash chain and signed digests with this private key
                      (from `auditlog keygen`; default: $AUDIT_LOG_SIGNING_KEY, else off)
  --fail-closed       refuse calls (UNAVAILABLE) while the audit log cannot take events

  SIGUSR1 prints the audit logger's counters (also printed at shutdown)

  GRPC_AUTH_TOKENS=name:token,...  require a token; callers are logged by name";

struct Args {
    addr: String,
    log_dir: PathBuf,
    format: Option<Format>,
    fail_closed: bool,
    signing_key: Option<PathBuf>,
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
            _ => return Err(format!("unknown argument {arg:?}\n\n{USAGE}")),
        }
    }
    Ok(args)
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
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("ExperimentService listening on {}", listener.local_addr()?);
    println!("audit log: {log_path}");
    println!("auth: {auth}");
    if args.fail_closed {
        println!("fail-closed: calls are refused while the audit log cannot take events");
    }
    #[cfg(unix)]
    {
        let logger = logger.clone();
        tokio::spawn(async move {
            let Ok(mut usr1) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
            else {
                return;
            };
            while usr1.recv().await.is_some() {
                println!("audit health: {}", logger.stats());
            }
        });
    }

    let service = ExperimentServer::new(Arc::new(Experiment::default()), logger.clone());
    serve(listener, service, identity, shutdown_signal()).await?;

    // Every event is already in the file; make it durable before saying so.
    let flushed = logger.flush();
    println!("audit health: {}", logger.stats());
    flushed?;
    let summary = logger.get_log_summary()?;
    println!("stopped; {} events in {log_path}", summary.total_events);
    Ok(())
}
