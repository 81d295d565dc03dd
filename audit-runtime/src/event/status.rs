//! The event's `status`: [`Status`], the three this crate writes, and [`EventStatus`], any
//! status a log holds (another writer's included), kept exactly as written.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// The outcome of an action, as this crate writes it: the spec's `"success"` and
/// `"failed"`, and `"error"`, which WeightsLab v2.0's services log for an action that raised
/// (a notebook cell), so that a server moving to this crate keeps logging what its readers
/// already count.
///
/// Everything that logs takes a `Status`, so only these three are ever written; `#[audited]`
/// writes `success` and `failed` only. Events read from a log hold an [`EventStatus`], which
/// also keeps a status another writer used.
///
/// ```
/// use audit_runtime::Status;
/// assert_eq!(Status::Failed.as_str(), "failed");
/// assert_eq!(Status::Success.to_string(), "success");
/// assert_eq!("failed".parse::<Status>()?, Status::Failed);
/// assert_eq!(serde_json::to_string(&Status::Success)?, r#""success""#);
///
/// assert_eq!("error".parse::<Status>()?, Status::Error);
///
/// // Only the spellings this crate writes; see `EventStatus` for what a log may hold.
/// let err = "crashed".parse::<Status>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"invalid status "crashed": expected "success", "failed" or "error""#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The action did what was asked.
    Success,
    /// The action failed; the event's `error` says why.
    Failed,
    /// The action raised an error (WeightsLab v2.0's services' third status); the event's
    /// `error` says which.
    Error,
}

impl Status {
    /// The spelling used in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Error => "error",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status that cannot be read: for [`Status`], anything but `success` / `failed` / `error`; for
/// [`EventStatus`], an empty (or all-whitespace) string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseStatusError {
    found: String,
}

impl fmt::Display for ParseStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.found.trim().is_empty() {
            f.write_str("the status is empty")
        } else {
            write!(
                f,
                "invalid status {:?}: expected \"success\", \"failed\" or \"error\"",
                self.found
            )
        }
    }
}

impl std::error::Error for ParseStatusError {}

impl FromStr for Status {
    type Err = ParseStatusError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "success" => Ok(Status::Success),
            "failed" => Ok(Status::Failed),
            "error" => Ok(Status::Error),
            _ => Err(ParseStatusError {
                found: s.to_owned(),
            }),
        }
    }
}

/// The status of an event as a log holds it: `success`, `failed`, `error`, or any other
/// non-empty string another writer put there.
///
/// Reading is lossless: a status this version does not write is kept exactly as written, so
/// continuing, querying, exporting and summarising such a log never changes or drops it.
/// Writing is not: [`AuditLogger::log_event`](crate::AuditLogger::log_event) and everything
/// else that logs takes a [`Status`], so this crate only ever writes the three it knows.
/// That is why this is a type of its own rather than another variant of [`Status`].
///
/// ```
/// use audit_runtime::{EventStatus, Status};
/// let error: EventStatus = "error".parse().unwrap();
/// assert_eq!(error.known(), Some(Status::Error));
/// let other: EventStatus = "timed out".parse().unwrap();
/// assert_eq!(other.as_str(), "timed out");
/// assert_eq!(other.known(), None);
/// assert_eq!(EventStatus::from(Status::Failed), Status::Failed);
/// assert!("".parse::<EventStatus>().is_err());
/// ```
///
/// Logging takes a [`Status`], so a status read from a file cannot be written back as new:
/// ```compile_fail
/// # let dir = tempfile::tempdir().unwrap();
/// # let logger = audit_runtime::AuditLogger::new(dir.path(), "exp").unwrap();
/// let other: audit_runtime::EventStatus = "timed out".parse().unwrap();
/// logger.log_event("notebook_run", other, None, None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventStatus(Repr);

// Private, so that `Other` never holds `success`, `failed`, `error` or an empty string (one value has
// one representation) and more kinds can be told apart later without breaking anyone.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Known(Status),
    Other(Box<str>),
}

impl EventStatus {
    /// The status as written in the file.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Known(status) => status.as_str(),
            Repr::Other(text) => text,
        }
    }

    /// The status if it is one this version writes, `None` for any other.
    pub fn known(&self) -> Option<Status> {
        match self.0 {
            Repr::Known(status) => Some(status),
            Repr::Other(_) => None,
        }
    }

    /// Whether the action worked (`success`). Every other status, `failed` or one this
    /// version does not write (`error`), is a kind of failure.
    pub fn is_success(&self) -> bool {
        self.0 == Repr::Known(Status::Success)
    }
}

impl From<Status> for EventStatus {
    fn from(status: Status) -> Self {
        EventStatus(Repr::Known(status))
    }
}

impl FromStr for EventStatus {
    type Err = ParseStatusError;
    /// `success` and `failed` (surrounding whitespace ignored, as [`Status`] reads them),
    /// or any other string that is not blank, kept exactly as given.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<Status>() {
            Ok(status) => Ok(status.into()),
            Err(e) if s.trim().is_empty() => Err(e),
            Err(_) => Ok(EventStatus(Repr::Other(s.into()))),
        }
    }
}

impl PartialEq<Status> for EventStatus {
    fn eq(&self, other: &Status) -> bool {
        self.0 == Repr::Known(*other)
    }
}

impl PartialEq<EventStatus> for Status {
    fn eq(&self, other: &EventStatus) -> bool {
        other == self
    }
}

impl fmt::Debug for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Known(status) => fmt::Debug::fmt(status, f),
            Repr::Other(text) => f.debug_tuple("Other").field(text).finish(),
        }
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = EventStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-empty status string")
            }
            // Borrowed when unescaped: the usual `success`/`failed` allocate nothing.
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EventStatus, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuditEvent;

    #[test]
    fn status_parses_only_the_two_spellings() {
        assert_eq!("success".parse::<Status>().unwrap(), Status::Success);
        assert_eq!(" failed ".parse::<Status>().unwrap(), Status::Failed);
        assert!("ok".parse::<Status>().is_err());
        assert!(serde_json::from_str::<Status>("\"crashed\"").is_err());
        assert_eq!(
            serde_json::from_str::<Status>("\"error\"").unwrap(),
            Status::Error
        );
    }

    #[test]
    fn an_event_keeps_a_status_this_version_does_not_write() {
        let text = r#"{"timestamp":"2026-05-27T14:30:05.456789Z","action_type":"notebook_run","status":"timed out","details":{},"error":"NameError"}"#;
        let event: AuditEvent = serde_json::from_str(text).unwrap();
        assert_eq!(event.status.as_str(), "timed out");
        assert_eq!(event.status.known(), None);
        assert!(!event.status.is_success());
        assert_ne!(event.status, Status::Failed);
        assert_eq!(serde_json::to_string(&event).unwrap(), text);
        // Kept exactly as written, spaces and case included; only the three this crate
        // writes are read into `Status`.
        let odd: EventStatus = " Error ".parse().unwrap();
        assert_eq!(odd.as_str(), " Error ");
        let failed: EventStatus = " failed ".parse().unwrap();
        assert_eq!(failed, Status::Failed);
        assert_eq!(failed.known(), Some(Status::Failed));
        assert!(EventStatus::from(Status::Success).is_success());
    }

    #[test]
    fn an_empty_or_non_string_status_is_still_invalid() {
        for bad in ["", "   "] {
            assert_eq!(
                bad.parse::<EventStatus>().unwrap_err().to_string(),
                "the status is empty"
            );
        }
        for bad in ["\"\"", "1", "null", "{}"] {
            assert!(serde_json::from_str::<EventStatus>(bad).is_err(), "{bad}");
        }
    }
}
