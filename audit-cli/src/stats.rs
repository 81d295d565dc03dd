//! What `auditlog summary` counts: the spec's counts, first and last timestamp, failures per
//! action (each kind of failure under its status) and actors.

use std::collections::BTreeMap;

use audit_runtime::read::Snapshot;
use audit_runtime::{LogSummary, Timestamp};
use serde_json::Value;

use crate::CliError;
use crate::commands::note_cut_off;
use crate::progress::Progress;
use crate::source::LogFile;

/// The summary of a log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// The spec's counts.
    pub summary: LogSummary,
    /// The earliest timestamp.
    pub first: Option<Timestamp>,
    /// The latest timestamp.
    pub last: Option<Timestamp>,
    /// Failed events per action type.
    pub failed_by_action: BTreeMap<String, u64>,
    /// For each status other than `success` and `failed` (WeightsLab v2.0's `error`), its
    /// events per action type: other kinds of failure, each under its own name.
    pub other_failures_by_action: BTreeMap<String, BTreeMap<String, u64>>,
    /// Events per `details.actor`, for events that have one.
    pub by_actor: BTreeMap<String, u64>,
}

impl Stats {
    /// Counts one event from its parts.
    pub fn add(
        &mut self,
        timestamp: Option<Timestamp>,
        action: &str,
        status: &str,
        actor: Option<String>,
    ) {
        self.summary.add_counts(action, status);
        if let Some(ts) = timestamp {
            self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
            self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
        }
        match status {
            "success" => {}
            "failed" => bump(&mut self.failed_by_action, action),
            other => bump(
                self.other_failures_by_action
                    .entry(other.to_owned())
                    .or_default(),
                action,
            ),
        }
        if let Some(actor) = actor {
            *self.by_actor.entry(actor).or_default() += 1;
        }
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(count) => *count += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

/// How an actor is shown: a string as is; an object by its `name`, `id` or `user` field;
/// anything else as compact JSON.
pub fn actor_name(actor: &Value) -> String {
    match actor {
        Value::String(s) => s.clone(),
        Value::Object(map) => ["name", "id", "user", "peer"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .map_or_else(|| actor.to_string(), str::to_owned),
        other => other.to_string(),
    }
}

/// Whether `actor` is `wanted`: the string itself, or an object with a string field equal
/// to it.
pub fn actor_matches(actor: &Value, wanted: &str) -> bool {
    match actor {
        Value::String(s) => s == wanted,
        Value::Object(map) => map.values().any(|v| v.as_str() == Some(wanted)),
        _ => false,
    }
}

/// Reads the whole log and summarises it, through the runtime's fast summary path (only the
/// fields counted are deserialised).
pub fn collect(log: &LogFile) -> Result<Stats, CliError> {
    let mut progress = Progress::new(log.len());
    let mut stats = Stats::default();
    let snapshot = Snapshot::take(&log.path, log.format)?;
    let mut events = snapshot.events().skip_cut_off_end();
    events.for_each_brief(|brief| {
        progress.at(brief.end);
        let actor = brief.actor.map(actor_name);
        stats.add(brief.timestamp, brief.action_type, brief.status, actor);
    })?;
    note_cut_off(log, events.cut_off_end());
    Ok(stats)
}
