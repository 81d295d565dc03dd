//! What `auditlog summary` counts, and the fast pass that counts it.
//!
//! For JSON logs only the fields the summary shows are deserialised (`timestamp`,
//! `action_type`, `status` and `details.actor`, borrowed when unescaped); everything else is
//! skipped unparsed. That is what keeps a summary of a million events well under two seconds.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use audit_runtime::read::{ScanError, ScanErrorKind, lenient};
use audit_runtime::{AuditEvent, Format, LogSummary, Timestamp};
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::CliError;
use crate::progress::Progress;
use crate::reader::{LogReader, read_error};
use crate::snapshot::Snapshot;
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

    /// Counts one event.
    pub fn add_event(&mut self, event: &AuditEvent) {
        self.add(
            Some(event.timestamp),
            &event.action_type,
            event.status.as_str(),
            event.details.get("actor").map(actor_name),
        );
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

#[derive(Deserialize)]
struct Brief<'a> {
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    action_type: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default)]
    details: Actor,
}

/// `details.actor` if `details` is an object that has one; any other `details` is skipped.
#[derive(Default)]
struct Actor(Option<Value>);

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Actor;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Actor, A::Error> {
                let mut actor = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "actor" {
                        actor = Some(map.next_value::<Value>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Actor(actor))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Actor, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Actor(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_unit<E>(self) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_none<E>(self) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Actor, D::Error> {
                d.deserialize_any(V)
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads the whole log and summarises it.
pub fn collect(log: &LogFile) -> Result<Stats, CliError> {
    let mut progress = Progress::new(log.len());
    let mut stats = Stats::default();
    if log.format == Format::Csv {
        let mut reader = LogReader::open(log)?;
        while let Some(entry) = reader.next_entry(log)? {
            progress.at(entry.end);
            stats.add_event(&entry.event);
        }
        return Ok(stats);
    }
    let mut scanner = Snapshot::take(log)?.json_scanner();
    loop {
        let element = match scanner.next_raw() {
            Ok(Some(element)) => element,
            Ok(None) => break,
            Err(error) => return Err(read_error(log, &error, scanner.take_io_error())),
        };
        progress.at(element.end);
        let counted = lenient::parse_with(element.bytes, |bytes| {
            let brief: Brief<'_> = serde_json::from_slice(bytes)?;
            let timestamp = brief.timestamp.parse().ok();
            let actor = brief.details.0.as_ref().map(actor_name);
            stats.add(timestamp, &brief.action_type, &brief.status, actor);
            Ok(())
        });
        if let Err(err) = counted {
            let error = ScanError {
                kind: ScanErrorKind::Malformed,
                offset: element.start,
                line: element.line,
                message: format!("not an audit event: {}", err.message),
            };
            return Err(read_error(log, &error, None));
        }
    }
    Ok(stats)
}
