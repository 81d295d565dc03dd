//! Rounds: every contender of a section runs once per round, in an order that rotates from
//! round to round, so slow drift of a shared machine (other builds, writeback, thermal)
//! lands on all of them alike. A contender's figure is the median over rounds of what it
//! did in each round; a comparison is the median over rounds of the ratio (or difference)
//! between two contenders *within* a round.

use std::error::Error;
use std::time::{Duration, Instant};

use crate::stats::{Histogram, median};
use crate::sys;

pub type BoxError = Box<dyn Error + Send + Sync>;

/// What one run of a contender did.
#[derive(Default)]
pub struct Batch {
    /// Every operation's latency (empty when only the batch's total time is known: then the
    /// figure per operation is the mean).
    pub latencies: Histogram,
    /// Operations done (events, calls, requests).
    pub ops: u64,
    /// Wall time of the whole batch, from the moment all its threads were released.
    pub wall: Duration,
    /// CPU time spent by the side that serves the operations (the gRPC server), if known.
    pub cpu_ns: Option<u64>,
    /// Bytes sent to storage and peak RSS when they were not this process's (a child's).
    pub disk_bytes: Option<u64>,
    pub peak_rss: Option<u64>,
}

/// One thing being measured.
pub trait Contender {
    /// Unique within its section: comparisons name contenders by it.
    fn key(&self) -> String;
    /// Untimed, and not counted in the disk bytes: fresh files, a fresh logger.
    fn prepare(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
    fn run(&mut self) -> Result<Batch, BoxError>;
}

/// One round's figures for one contender.
#[derive(Clone, Copy)]
pub struct Round {
    /// p50 latency, or the mean when no latencies were recorded, in ns.
    pub per_op: f64,
    /// Wall time per operation, in ns: the mean, which a cost paid once every so many
    /// operations (a signed digest) shows in and the median does not.
    pub mean_per_op: f64,
    /// Operations per second of wall time (all threads together).
    pub rate: f64,
    pub disk_per_op: Option<f64>,
    pub peak_rss: Option<u64>,
    pub cpu_per_op: Option<f64>,
}

/// A contender's rounds, and every latency of all of them (the tails need all events: a
/// p99.9 of one round of 1,000 events is one event).
pub struct Measured {
    pub key: String,
    pub rounds: Vec<Round>,
    pub all: Histogram,
    pub ops: u64,
}

impl Measured {
    pub fn per_op(&self) -> f64 {
        median(self.rounds.iter().map(|r| r.per_op))
    }
    pub fn rate(&self) -> f64 {
        median(self.rounds.iter().map(|r| r.rate))
    }
    pub fn disk_per_op(&self) -> Option<f64> {
        let v: Vec<f64> = self.rounds.iter().filter_map(|r| r.disk_per_op).collect();
        (!v.is_empty()).then(|| median(v))
    }
    pub fn peak_rss(&self) -> Option<u64> {
        self.rounds.iter().filter_map(|r| r.peak_rss).max()
    }
    pub fn cpu_per_op(&self) -> Option<f64> {
        let v: Vec<f64> = self.rounds.iter().filter_map(|r| r.cpu_per_op).collect();
        (!v.is_empty()).then(|| median(v))
    }
    pub fn has_latencies(&self) -> bool {
        self.all.count() > 0
    }
}

/// Runs `contenders` for `rounds` rounds; `section` names them in the progress lines.
pub fn run_rounds(
    section: &str,
    mut contenders: Vec<Box<dyn Contender + '_>>,
    rounds: usize,
) -> Result<Vec<Measured>, BoxError> {
    let mut measured: Vec<Measured> = contenders
        .iter()
        .map(|c| Measured {
            key: c.key(),
            rounds: Vec::with_capacity(rounds),
            all: Histogram::default(),
            ops: 0,
        })
        .collect();
    let n = contenders.len();
    for round in 0..rounds {
        eprintln!("  {section}: round {}/{rounds} ({n} contenders)", round + 1);
        for k in 0..n {
            let i = (k + round) % n;
            let contender = &mut contenders[i];
            contender
                .prepare()
                .map_err(|e| format!("{}: preparing: {e}", measured[i].key))?;
            sys::reset_peak_rss();
            let disk_before = sys::write_bytes();
            let batch = contender
                .run()
                .map_err(|e| format!("{}: {e}", measured[i].key))?;
            let disk = batch.disk_bytes.or_else(|| {
                let (before, after) = (disk_before?, sys::write_bytes()?);
                Some(after.saturating_sub(before))
            });
            let peak_rss = batch.peak_rss.or_else(sys::peak_rss);
            let ops = batch.ops.max(1) as f64;
            let per_op = if batch.latencies.count() > 0 {
                batch.latencies.quantile(0.5) as f64
            } else {
                batch.wall.as_nanos() as f64 / ops
            };
            let m = &mut measured[i];
            m.rounds.push(Round {
                per_op,
                mean_per_op: batch.wall.as_nanos() as f64 / ops,
                rate: ops / batch.wall.as_secs_f64().max(1e-9),
                disk_per_op: disk.map(|d| d as f64 / ops),
                peak_rss,
                cpu_per_op: batch.cpu_ns.map(|c| c as f64 / ops),
            });
            m.all.merge(&batch.latencies);
            m.ops += batch.ops;
        }
    }
    Ok(measured)
}

/// What a comparison compares.
#[derive(Clone, Copy)]
pub enum Metric {
    /// p50 (or mean) time per operation: this ÷ that.
    PerOp,
    /// Operations per second: this ÷ that.
    Rate,
    /// Time per operation, this − that (for costs too small to divide meaningfully).
    PerOpDiff,
    /// Mean wall time per operation, this − that: a cost amortised over many operations.
    MeanDiff,
    /// Server CPU per operation, this − that.
    CpuDiff,
    /// Operations per second a server that is the bottleneck would do: that's CPU per
    /// operation ÷ this one's (the inverse ratio of their costs).
    CpuRate,
}

/// The median over rounds of `metric` between `a` and `b` within each round.
pub fn compare(a: &Measured, b: &Measured, metric: Metric) -> f64 {
    median(a.rounds.iter().zip(&b.rounds).map(|(x, y)| match metric {
        Metric::PerOp => x.per_op / y.per_op,
        Metric::Rate => x.rate / y.rate,
        Metric::PerOpDiff => x.per_op - y.per_op,
        Metric::MeanDiff => x.mean_per_op - y.mean_per_op,
        Metric::CpuDiff => x.cpu_per_op.unwrap_or(f64::NAN) - y.cpu_per_op.unwrap_or(f64::NAN),
        Metric::CpuRate => y.cpu_per_op.unwrap_or(f64::NAN) / x.cpu_per_op.unwrap_or(f64::NAN),
    }))
}

/// Finds a contender's results by key.
pub fn find<'a>(results: &'a [Measured], key: &str) -> Result<&'a Measured, BoxError> {
    results
        .iter()
        .find(|m| m.key == key)
        .ok_or_else(|| format!("no contender {key:?} was measured").into())
}

/// Does `ops` operations split across `threads` threads (released together), timing every
/// one. `init` runs first in each thread and what it returns lives until the thread ends
/// (a thread-local subscriber's guard); `op` is given the thread's number.
pub fn run_threads<G>(
    threads: usize,
    ops: u64,
    init: impl Fn() -> G + Sync,
    op: impl Fn(usize) -> Result<(), BoxError> + Sync,
) -> Result<Batch, BoxError> {
    let barrier = std::sync::Barrier::new(threads);
    let (latencies, wall) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, init, op) = (&barrier, &init, &op);
                // Thread t does its share; the first ones take the remainder.
                let n = ops / threads as u64 + u64::from((t as u64) < ops % threads as u64);
                scope.spawn(move || -> Result<(Histogram, Instant, Instant), BoxError> {
                    let _guard = init();
                    let mut hist = Histogram::default();
                    barrier.wait();
                    let first = Instant::now();
                    for _ in 0..n {
                        let start = Instant::now();
                        op(t)?;
                        hist.record(start.elapsed().as_nanos() as u64);
                    }
                    Ok((hist, first, Instant::now()))
                })
            })
            .collect();
        // The batch lasts from the first thread's start to the last one's end, as the
        // threads saw them: with more threads than cores, a coordinating thread may well
        // be scheduled only after the workers have done much of their work.
        let mut all = Histogram::default();
        let mut span: Option<(Instant, Instant)> = None;
        let mut failure = None;
        for worker in workers {
            match worker.join() {
                Ok(Ok((hist, first, last))) => {
                    all.merge(&hist);
                    span = Some(match span {
                        None => (first, last),
                        Some((a, b)) => (a.min(first), b.max(last)),
                    });
                }
                Ok(Err(e)) => failure = Some(e),
                Err(_) => failure = Some("a benchmark thread panicked".into()),
            }
        }
        match (failure, span) {
            (Some(e), _) => Err(e),
            (None, Some((first, last))) => Ok((all, last - first)),
            (None, None) => Err("no benchmark thread ran".into()),
        }
    })?;
    Ok(Batch {
        ops: latencies.count(),
        latencies,
        wall,
        ..Batch::default()
    })
}
