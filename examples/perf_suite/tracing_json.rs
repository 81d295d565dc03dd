//! `tracing-subscriber`'s JSON formatter writing to a file: what a service that "just logs
//! the audit event with tracing" pays, with none of the spec's guarantees (an append-only
//! stream of lines, not a JSON array; no cross-process ordering of timestamps).

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Arc;

use tracing::Dispatch;

use crate::bench::{Batch, BoxError, Contender, run_threads};
use crate::event::{ACTION, ACTOR, BATCH_SIZE, LEARNING_RATE, RUN_ID, STEP};

pub struct TracingJson {
    pub key: String,
    threads: usize,
    ops: u64,
    path: PathBuf,
    dispatch: Option<Dispatch>,
}

impl TracingJson {
    pub fn new(key: String, threads: usize, ops: u64, path: PathBuf) -> TracingJson {
        TracingJson {
            key,
            threads,
            ops,
            path,
            dispatch: None,
        }
    }
}

impl Contender for TracingJson {
    fn key(&self) -> String {
        self.key.clone()
    }

    /// A fresh file each round, so its size afterwards says the bytes per event.
    fn prepare(&mut self) -> Result<(), BoxError> {
        self.dispatch = None;
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path)?;
        drop(file);
        // O_APPEND, so threads' lines never interleave (each event is one `write`).
        let file = OpenOptions::new().append(true).open(&self.path)?;
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_ansi(false)
            .with_writer(Arc::new(file))
            .finish();
        self.dispatch = Some(Dispatch::new(subscriber));
        Ok(())
    }

    fn run(&mut self) -> Result<Batch, BoxError> {
        let dispatch = self.dispatch.as_ref().ok_or("not prepared")?;
        // The subscriber is each thread's default (not the process's), so the library's own
        // diagnostics elsewhere in the suite never reach this file.
        run_threads(
            self.threads,
            self.ops,
            || tracing::dispatcher::set_default(dispatch),
            |_| {
                tracing::info!(
                    target: "audit",
                    action_type = ACTION,
                    status = "success",
                    actor = ACTOR,
                    run_id = RUN_ID,
                    step = STEP,
                    learning_rate = LEARNING_RATE,
                    batch_size = BATCH_SIZE,
                    "audit event"
                );
                Ok(())
            },
        )
    }
}
