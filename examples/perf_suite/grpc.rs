//! Requests per second through the example experiment server over loopback, with a JSON
//! audit log and with format `none`, and the server's CPU time per request.
//!
//! The server runs in this process on a tokio runtime of its own whose threads are named
//! `perf-server`; the clients run on another (`perf-client`). The server's CPU time is the
//! sum of its threads' on-CPU nanoseconds (`/proc/self/task/*/schedstat`) over the measured
//! window, so the clients' work is not in it. Every request is an `ExperimentCommand` that
//! changes the learning rate (one `hp_change` event each, with the caller as the actor).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use audited::Format;
use experiment_service::proto::{HyperParameterCommand, HyperParameters, TrainerCommand};
use experiment_service::testing::{LocalServer, LocalServerOptions};
use tokio::runtime::Runtime;

use crate::Config;
use crate::bench::{Batch, BoxError, Contender, Measured, Metric, find, run_rounds};
use crate::stats::Histogram;
use crate::sys;
use crate::table::{Row, ns};

const SERVER_THREADS: &str = "perf-server";
const TOKEN: &str = "perf-token";
/// Concurrent requests in flight, over `CONNECTIONS` HTTP/2 connections.
pub const CLIENT_TASKS: usize = 16;
pub const CONNECTIONS: usize = 4;

/// The two runtimes, made once for the section (making them per round would count their
/// start-up in the first requests).
pub struct Runtimes {
    server: Runtime,
    client: Runtime,
}

impl Runtimes {
    pub fn new() -> Result<Runtimes, BoxError> {
        let runtime = |name: &str| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(name)
                .enable_all()
                .build()
        };
        Ok(Runtimes {
            server: runtime(SERVER_THREADS)?,
            client: runtime("perf-client")?,
        })
    }
}

pub struct Grpc<'a> {
    format: Format,
    runtimes: &'a Runtimes,
    dir: PathBuf,
    warmup: Duration,
    window: Duration,
    round: usize,
    server: Option<LocalServer>,
}

impl<'a> Grpc<'a> {
    pub fn new(
        format: Format,
        runtimes: &'a Runtimes,
        dir: PathBuf,
        warmup: Duration,
        window: Duration,
    ) -> Grpc<'a> {
        Grpc {
            format,
            runtimes,
            dir,
            warmup,
            window,
            round: 0,
            server: None,
        }
    }

    pub fn key(format: Format) -> String {
        format!("grpc {format}")
    }
}

impl Contender for Grpc<'_> {
    fn key(&self) -> String {
        Grpc::key(self.format)
    }

    /// A new server with an empty log every round.
    fn prepare(&mut self) -> Result<(), BoxError> {
        if let Some(server) = self.server.take() {
            self.runtimes.server.block_on(server.stop())?;
        }
        self.round += 1;
        let dir = self.dir.join(format!("round-{}", self.round));
        if self.round > 1 {
            let _ = std::fs::remove_dir_all(self.dir.join(format!("round-{}", self.round - 1)));
        }
        let mut options = LocalServerOptions::new(&dir);
        options.format = self.format;
        options.tokens = Some(format!("alice:{TOKEN}"));
        self.server = Some(self.runtimes.server.block_on(LocalServer::start(options))?);
        Ok(())
    }

    fn run(&mut self) -> Result<Batch, BoxError> {
        let server = self.server.as_ref().ok_or("not prepared")?;
        let (warmup, window) = (self.warmup, self.window);
        let batch = self
            .runtimes
            .client
            .block_on(load(server, warmup, window))?;
        if self.format != Format::None {
            // One event per request, or the comparison is not what it says.
            let written = server.logger().stats().events_written;
            if written < batch.ops {
                return Err(format!("{} requests but only {written} events", batch.ops).into());
            }
        }
        Ok(batch)
    }
}

impl Drop for Grpc<'_> {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.runtimes.server.block_on(server.stop());
        }
    }
}

/// Phases of a load run, read by every client task.
const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

async fn load(server: &LocalServer, warmup: Duration, window: Duration) -> Result<Batch, BoxError> {
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        clients.push(server.client_with_token(TOKEN).await?);
    }
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let done = Arc::new(AtomicU64::new(0));
    // Each request sets a learning rate no other request in flight sets, so each one is a
    // change (an unchanged value would log no event).
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(CLIENT_TASKS);
    for t in 0..CLIENT_TASKS {
        let mut client = clients[t % CONNECTIONS].clone();
        let (phase, done, next) = (phase.clone(), done.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::default();
            while phase.load(Ordering::Relaxed) != STOP {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let lr = 1e-4 * (1 + n % 100_000) as f32;
                let start = Instant::now();
                let response = client.experiment_command(set_learning_rate(lr)).await?;
                let elapsed = start.elapsed();
                if !response.get_ref().success {
                    return Err(format!("refused: {}", response.get_ref().message).into());
                }
                if phase.load(Ordering::Relaxed) == MEASURE {
                    hist.record(elapsed.as_nanos() as u64);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<Histogram, BoxError>(hist)
        }));
    }
    tokio::time::sleep(warmup).await;
    let (cpu_before, start) = (sys::threads_cpu_ns(SERVER_THREADS), Instant::now());
    phase.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(window).await;
    phase.store(STOP, Ordering::Relaxed);
    let (cpu_after, wall) = (sys::threads_cpu_ns(SERVER_THREADS), start.elapsed());
    let mut latencies = Histogram::default();
    for task in tasks {
        latencies.merge(&task.await??);
    }
    Ok(Batch {
        ops: done.load(Ordering::Relaxed),
        latencies,
        wall,
        cpu_ns: Some(cpu_after.saturating_sub(cpu_before)),
        ..Batch::default()
    })
}

fn set_learning_rate(lr: f32) -> TrainerCommand {
    TrainerCommand {
        hyper_parameter_change: Some(HyperParameterCommand {
            hyper_parameters: Some(HyperParameters {
                learning_rate: Some(lr),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// Requests/s through the example server, JSON log against format `none`.
pub fn section(config: &Config, dir: &Path) -> Result<Vec<Row>, BoxError> {
    eprintln!("gRPC:");
    let runtimes = Runtimes::new()?;
    let results = {
        let contenders: Vec<Box<dyn Contender + '_>> = [Format::None, Format::Json]
            .into_iter()
            .map(|format| {
                Box::new(Grpc::new(
                    format,
                    &runtimes,
                    dir.join(format.as_str()),
                    config.grpc_warmup,
                    config.grpc_window,
                )) as Box<dyn Contender + '_>
            })
            .collect();
        run_rounds("gRPC", contenders, config.rounds)?
    };
    let group = "gRPC";
    let none = find(&results, &Grpc::key(Format::None))?;
    let json = find(&results, &Grpc::key(Format::Json))?;
    let cpu = |m: &Measured| {
        m.cpu_per_op()
            .map(|c| format!("server CPU {}/req", ns(c)))
            .unwrap_or_default()
    };
    let rows = vec![
        Row::measured(
            group,
            "example server, --format none",
            CLIENT_TASKS,
            "",
            none,
        )
        .with_note(&cpu(none)),
        Row::measured(
            group,
            "example server, --format json",
            CLIENT_TASKS,
            "0",
            json,
        )
        .with_note(&cpu(json))
        .vs(json, none, Metric::Rate, "none")
        .vs(json, none, Metric::CpuDiff, "none")
        .vs(json, none, Metric::CpuRate, "none"),
    ];
    let _ = std::fs::remove_dir_all(dir);
    Ok(rows)
}
