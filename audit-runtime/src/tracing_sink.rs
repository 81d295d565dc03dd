//! [`TracingSink`]: every event also as a `tracing` event, for applications that already
//! route `tracing` into a log pipeline or OpenTelemetry.

use crate::{AuditError, FinishedEvent, Sink, Status, Timestamp};

/// An extra sink that emits each event as a `tracing` event with target `audit`, the spec's
/// five fields as structured fields (`timestamp`, `action_type`, `status`, `details` as
/// compact JSON, `error`, absent when there is none), at level INFO (WARN for a failed
/// event). Add it with [`AuditLoggerBuilder::sink`](crate::AuditLoggerBuilder::sink); the
/// timestamp is the log file's.
///
/// ```
/// use audit_runtime::{AuditLogger, Format, Status, TracingSink};
/// let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path())
///     .format(Format::Json)
///     .sink(TracingSink::new())
///     .build()?;
/// // With a subscriber installed (tracing-subscriber's JSON formatter, an OpenTelemetry
/// // layer), this is also one event with target "audit":
/// logger.log_event("pause", Status::Success, None, None)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Library code of this crate reports its own diagnostics under the same target; an audit
/// event is told apart by its `action_type` field.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink {
    _private: (),
}

impl TracingSink {
    /// The sink.
    pub fn new() -> TracingSink {
        TracingSink::default()
    }
}

impl Sink for TracingSink {
    fn write(&self, event: &FinishedEvent<'_>, wanted: Timestamp) -> Result<Timestamp, AuditError> {
        let details = serde_json::Value::Object(event.details.clone()).to_string();
        // `tracing`'s macros need the level at compile time: one call per level.
        match event.status {
            Status::Failed => tracing::warn!(
                target: "audit",
                timestamp = %wanted,
                action_type = event.action_type,
                status = event.status.as_str(),
                details = details.as_str(),
                error = event.error,
                "audit event"
            ),
            _ => tracing::info!(
                target: "audit",
                timestamp = %wanted,
                action_type = event.action_type,
                status = event.status.as_str(),
                details = details.as_str(),
                error = event.error,
                "audit event"
            ),
        }
        Ok(wanted)
    }
}
