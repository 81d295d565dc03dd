//! Our logger as a contender, and the fill of a log from empty to its size (the run that
//! shows what rewrites of a growing JSON log cost).

use std::path::{Path, PathBuf};
use std::time::Duration;

use audited::{AuditLogger, Durability, Format, Status};
use serde_json::{Map, Value};

use crate::bench::{Batch, BoxError, Contender, run_threads};
use crate::event;
use crate::stats::Histogram;
use crate::sys;

/// Opens a logger on `dir`. Opening skips the full check of an existing log: a prefilled
/// log of 10M events would take seconds to verify, and it was written by us a moment ago.
pub fn open(dir: &Path, format: Format, durability: Durability) -> Result<AuditLogger, BoxError> {
    open_with(dir, format, durability, &Chain::Off, Policy::Default)
}

/// Tamper evidence for a contender's logger (issue 11).
#[derive(Debug, Clone)]
pub enum Chain {
    Off,
    /// `.tamper_evident(true)`: the hash chain.
    On,
    /// `.signing_key(path)`: the chain and a signed digest every 1,000 events (the default).
    Signed(PathBuf),
}

/// What the logger does to values before writing them (issue 12): the default (secret
/// names redacted, the 1 MiB size cap), or neither, to measure what they cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Default,
    Off,
}

/// [`open`], with tamper evidence as `chain` says and the redaction and size cap of
/// `policy`.
pub fn open_with(
    dir: &Path,
    format: Format,
    durability: Durability,
    chain: &Chain,
    policy: Policy,
) -> Result<AuditLogger, BoxError> {
    let builder = AuditLogger::builder(dir)
        .experiment("perf")
        .format(format)
        .durability(durability)
        .verify_on_open(false);
    let builder = match chain {
        Chain::Off => builder,
        Chain::On => builder.tamper_evident(true),
        Chain::Signed(key) => builder.signing_key(key),
    };
    let builder = match policy {
        Policy::Default => builder,
        // No list to match, and a cap no event reaches (the check itself, one comparison
        // of the length the encoder already has, cannot be removed).
        Policy::Off => builder
            .redaction(audited::Redaction::none())
            .max_event_bytes(usize::MAX)
            .max_csv_details_chars(usize::MAX),
    };
    Ok(builder.build()?)
}

/// Logs the sample event once. The caller owns the details it hands over, as a handler
/// does, so each event gets a clone of the prepared map (its cost is measured on its own:
/// the "caller" row).
pub fn log_one(logger: &AuditLogger, details: &Map<String, Value>) -> Result<(), BoxError> {
    logger.log_details(event::ACTION, Status::Success, details.clone(), None)?;
    Ok(())
}

/// Where a contender's logger comes from.
pub enum Log {
    /// A new log in a new directory under `parent` every round, holding `prefill` events
    /// when the round starts.
    Fresh {
        parent: PathBuf,
        format: Format,
        durability: Durability,
        prefill: u64,
        round: usize,
        logger: Option<AuditLogger>,
        chain: Chain,
        policy: Policy,
    },
    /// An open logger on a prefilled log, shared with other contenders.
    Prefilled(AuditLogger),
}

pub struct Ours {
    pub key: String,
    pub log: Log,
    pub threads: usize,
    pub ops: u64,
    details: Map<String, Value>,
}

impl Log {
    /// A fresh log every round, `prefill` events long.
    pub fn fresh(parent: PathBuf, format: Format, durability: Durability, prefill: u64) -> Log {
        Log::Fresh {
            parent,
            format,
            durability,
            prefill,
            round: 0,
            logger: None,
            chain: Chain::Off,
            policy: Policy::Default,
        }
    }

    /// [`fresh`](Self::fresh), tamper-evident as `chain` says.
    pub fn fresh_chained(
        parent: PathBuf,
        format: Format,
        durability: Durability,
        chain: Chain,
    ) -> Log {
        let mut log = Log::fresh(parent, format, durability, 0);
        if let Log::Fresh { chain: wanted, .. } = &mut log {
            *wanted = chain;
        }
        log
    }

    /// A fresh log every round, with redaction and the size cap as `policy` says.
    pub fn with_policy(mut self, wanted: Policy) -> Log {
        if let Log::Fresh { policy, .. } = &mut self {
            *policy = wanted;
        }
        self
    }
}

impl Ours {
    pub fn new(key: String, log: Log, threads: usize, ops: u64) -> Ours {
        Ours {
            key,
            log,
            threads,
            ops,
            details: event::details(),
        }
    }
}

impl Contender for Ours {
    fn key(&self) -> String {
        self.key.clone()
    }

    fn prepare(&mut self) -> Result<(), BoxError> {
        if let Log::Fresh {
            parent,
            format,
            durability,
            prefill,
            round,
            logger,
            chain,
            policy,
        } = &mut self.log
        {
            // Drop the last round's logger and log first: the disk space is reused.
            if let Some(old) = logger.take() {
                let dir = old.root_log_dir().to_owned();
                drop(old);
                std::fs::remove_dir_all(dir)?;
            }
            *round += 1;
            let dir = parent.join(format!("round-{round}"));
            let fresh = open_with(&dir, *format, *durability, chain, *policy)?;
            for _ in 0..*prefill {
                log_one(&fresh, &self.details)?;
            }
            *logger = Some(fresh);
        }
        Ok(())
    }

    fn run(&mut self) -> Result<Batch, BoxError> {
        let logger = match &self.log {
            Log::Fresh { logger, .. } => logger.as_ref().ok_or("not prepared")?,
            Log::Prefilled(logger) => logger,
        };
        let details = &self.details;
        run_threads(self.threads, self.ops, || (), |_| log_one(logger, details))
    }
}

/// What filling a log from empty showed.
pub struct Fill {
    pub latencies: Histogram,
    pub wall: Duration,
    /// `write_bytes` during the fill; `None` where `/proc/self/io` is missing.
    pub disk_bytes: Option<u64>,
    /// Bytes handed to the kernel in event writes (the logger's own count), for when
    /// `write_bytes` is not available.
    pub event_bytes: u64,
    pub final_size: u64,
    pub peak_rss: Option<u64>,
}

/// Fills a new log in `dir` with `events` events from `threads` threads; returns the open
/// logger with what was measured.
pub fn fill(
    dir: &Path,
    format: Format,
    events: u64,
    threads: usize,
) -> Result<(AuditLogger, Fill), BoxError> {
    let logger = open(dir, format, Durability::Written)?;
    let details = event::details();
    sys::reset_peak_rss();
    let disk_before = sys::write_bytes();
    let batch = run_threads(threads, events, || (), |_| log_one(&logger, &details))?;
    let disk_bytes = disk_before.zip(sys::write_bytes()).map(|(b, a)| a - b);
    let peak_rss = sys::peak_rss();
    let path = logger.path().ok_or("the logger writes no file")?;
    let fill = Fill {
        latencies: batch.latencies,
        wall: batch.wall,
        disk_bytes,
        event_bytes: logger.stats().bytes_written,
        final_size: std::fs::metadata(path)?.len(),
        peak_rss,
    };
    Ok((logger, fill))
}

/// The caller's share of [`log_one`]: cloning the details map it hands over (and dropping
/// it, as the logger eventually does).
pub struct CallerClone {
    details: Map<String, Value>,
    ops: u64,
}

impl CallerClone {
    pub fn new(ops: u64) -> CallerClone {
        CallerClone {
            details: event::details(),
            ops,
        }
    }
}

impl Contender for CallerClone {
    fn key(&self) -> String {
        "caller clone".to_owned()
    }

    fn run(&mut self) -> Result<Batch, BoxError> {
        let details = &self.details;
        run_threads(
            1,
            self.ops,
            || (),
            |_| {
                drop(std::hint::black_box(details.clone()));
                Ok(())
            },
        )
    }
}
