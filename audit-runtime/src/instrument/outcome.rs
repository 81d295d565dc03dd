//! How a call's result becomes the event's `status` and `error`.
//!
//! `#[audited]` looks at what the function returned, without annotations:
//! - `Err(e)`: failed. The error is [`AuditFailure::audit_failure`] when `E` implements it
//!   (`tonic::Status` does, with feature `tonic`), else `e.to_string()`, else `{e:?}`.
//! - `Ok(v)` or any other value: success, unless the value implements [`AuditOutcome`] and
//!   says otherwise (a response message with `success: false`).
//! - A panic or a dropped future: failed, decided by the generated code, not here.
//!
//! This module owns only the decision; it never logs.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use crate::Status;

/// What a call's result says about it: the event's status and error, plus details to add
/// (for instance `grpc_code`).
///
/// An audited function may return one itself, to decide its event's status without an
/// error type:
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, Outcome, Status, audited};
///
/// #[audited(action = "checkpoint_restore", logger = logger, details(checkpoint_id))]
/// fn restore(logger: &AuditLogger, checkpoint_id: &str) -> Outcome {
///     if !checkpoint_id.starts_with("ckpt_") {
///         return Outcome::failed("not a checkpoint id").with_detail("http_status", 400);
///     }
///     Outcome::success()
/// }
///
/// let sink = MemorySink::new();
/// let logger = AuditLogger::in_memory(sink.clone());
/// assert!(restore(&logger, "ckpt_001").is_success());
/// assert!(!restore(&logger, "latest").is_success());
///
/// let events = sink.events();
/// assert_eq!(events[0].status, Status::Success);
/// assert_eq!(events[1].status, Status::Failed);
/// assert_eq!(events[1].error.as_deref(), Some("not a checkpoint id"));
/// assert_eq!(events[1].details["http_status"], 400); // merged into the call's details
/// assert_eq!(events[1].details["checkpoint_id"], "latest");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Success or failure.
    pub status: Status,
    /// Why it failed (`None` on success).
    pub error: Option<String>,
    /// Extra details the result contributes, merged into the event's details.
    pub details: Map<String, Value>,
}

impl Outcome {
    /// The call did what was asked.
    pub fn success() -> Outcome {
        Outcome {
            status: Status::Success,
            error: None,
            details: Map::new(),
        }
    }

    /// The call failed with `error`.
    pub fn failed(error: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Failed,
            error: Some(error.into()),
            details: Map::new(),
        }
    }

    /// Adds a detail (for instance an error code) to the event.
    #[must_use]
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Outcome {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Whether the call succeeded.
    pub fn is_success(&self) -> bool {
        self.status == Status::Success
    }
}

/// A value returned by an audited function that knows whether the call succeeded.
///
/// Implement it (or derive it) for response types that report failure in-band, like the
/// reference server's messages with `success: bool, message: String`:
///
/// ```
/// use audit_runtime::{AuditOutcome, Status};
///
/// #[derive(AuditOutcome)]
/// struct EditResponse {
///     success: bool,
///     message: String,
/// }
///
/// let out = EditResponse { success: false, message: "no such sample".into() }.audit_outcome();
/// assert_eq!(out.status, Status::Failed);
/// assert_eq!(out.error.as_deref(), Some("no such sample"));
/// ```
///
/// The derive reads the fields `success` and `message`; name others with
/// `#[audit(success = ok, message = reason)]` (`message` is optional). For prost-generated
/// messages, add the derive in `build.rs`:
/// `.type_attribute("pkg.EditResponse", "#[derive(::audited::AuditOutcome)]")`.
pub trait AuditOutcome {
    /// The status and error this value stands for.
    fn audit_outcome(&self) -> Outcome;
}

/// An error type that describes itself to the audit log better than its `Display` does
/// (for instance with a code in the details).
///
/// ```
/// use audit_runtime::{AuditFailure, Outcome};
///
/// struct HttpError { code: u16, reason: String }
///
/// impl AuditFailure for HttpError {
///     fn audit_failure(&self) -> Outcome {
///         Outcome::failed(self.reason.clone()).with_detail("http_status", self.code)
///     }
/// }
/// ```
pub trait AuditFailure {
    /// The failure this error stands for; its status should be [`Status::Failed`].
    fn audit_failure(&self) -> Outcome;
}

impl AuditOutcome for () {
    fn audit_outcome(&self) -> Outcome {
        Outcome::success()
    }
}

impl AuditOutcome for Outcome {
    fn audit_outcome(&self) -> Outcome {
        self.clone()
    }
}

impl<T: AuditOutcome + ?Sized> AuditOutcome for &T {
    fn audit_outcome(&self) -> Outcome {
        (**self).audit_outcome()
    }
}

impl<T: AuditOutcome + ?Sized> AuditOutcome for Box<T> {
    fn audit_outcome(&self) -> Outcome {
        (**self).audit_outcome()
    }
}

/// `Ok(v)` is `v`'s outcome; `Err(e)` is failed with `e.to_string()`.
impl<T: AuditOutcome, E: fmt::Display> AuditOutcome for Result<T, E> {
    fn audit_outcome(&self) -> Outcome {
        match self {
            Ok(v) => v.audit_outcome(),
            Err(e) => Outcome::failed(e.to_string()),
        }
    }
}

/// The outcome of a response message that says `success: bool` and `message`. Used by
/// `#[derive(AuditOutcome)]`; an empty message on failure is replaced by a generic one.
#[doc(hidden)]
pub fn from_flag(success: bool, message: Option<&str>) -> Outcome {
    if success {
        return Outcome::success();
    }
    let message: Cow<'_, str> = match message {
        Some(m) if !m.trim().is_empty() => Cow::Borrowed(m),
        _ => Cow::Borrowed("the response reports failure (success = false)"),
    };
    Outcome::failed(message)
}

/// A field that says whether a response succeeded: `bool`, or `Option<bool>` (proto3
/// `optional bool`; absent counts as success). Used by `#[derive(AuditOutcome)]`.
#[doc(hidden)]
pub trait AsFlag {
    /// Whether the response reports success.
    fn as_flag(&self) -> bool;
}

impl AsFlag for bool {
    fn as_flag(&self) -> bool {
        *self
    }
}

impl AsFlag for Option<bool> {
    fn as_flag(&self) -> bool {
        self.unwrap_or(true)
    }
}

/// A field that holds a response's message: `String`, `&str`, `Cow<str>`, or an `Option`
/// of one (proto3 `optional string`). Used by `#[derive(AuditOutcome)]`.
#[doc(hidden)]
pub trait AsMessage {
    /// The message, if there is one.
    fn as_message(&self) -> Option<&str>;
}

impl AsMessage for String {
    fn as_message(&self) -> Option<&str> {
        Some(self)
    }
}

impl AsMessage for &str {
    fn as_message(&self) -> Option<&str> {
        Some(self)
    }
}

impl AsMessage for Cow<'_, str> {
    fn as_message(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: AsMessage> AsMessage for Option<T> {
    fn as_message(&self) -> Option<&str> {
        self.as_ref().and_then(AsMessage::as_message)
    }
}

#[cfg(feature = "tonic")]
mod tonic_impls {
    use super::{AuditFailure, AuditOutcome, Outcome};

    /// The status's message (or, when empty, its code's description), and
    /// `details.grpc_code` = the code's name, e.g. `"NotFound"`.
    impl AuditFailure for tonic::Status {
        fn audit_failure(&self) -> Outcome {
            let code = self.code();
            let message = if self.message().is_empty() {
                code.description()
            } else {
                self.message()
            };
            Outcome::failed(message).with_detail("grpc_code", format!("{code:?}"))
        }
    }

    /// A `Status` returned as a value (rare) is a failure unless its code is `Ok`.
    impl AuditOutcome for tonic::Status {
        fn audit_outcome(&self) -> Outcome {
            if self.code() == tonic::Code::Ok {
                Outcome::success()
            } else {
                self.audit_failure()
            }
        }
    }

    /// A response is what its message says.
    impl<T: AuditOutcome> AuditOutcome for tonic::Response<T> {
        fn audit_outcome(&self) -> Outcome {
            self.get_ref().audit_outcome()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_outcomes() {
        assert!(from_flag(true, Some("ignored")).is_success());
        assert_eq!(
            from_flag(false, Some("bad tag")).error.as_deref(),
            Some("bad tag")
        );
        assert!(
            from_flag(false, Some("  "))
                .error
                .unwrap()
                .contains("success = false")
        );
    }

    #[test]
    fn result_delegates_to_the_ok_value() {
        let ok: Result<Outcome, String> = Ok(Outcome::failed("inner"));
        assert_eq!(ok.audit_outcome().error.as_deref(), Some("inner"));
        let err: Result<(), String> = Err("outer".into());
        assert_eq!(err.audit_outcome().error.as_deref(), Some("outer"));
    }

    #[cfg(feature = "tonic")]
    #[test]
    fn tonic_status_gives_message_and_code() {
        let out = tonic::Status::not_found("no checkpoint ckpt_9").audit_failure();
        assert_eq!(out.error.as_deref(), Some("no checkpoint ckpt_9"));
        assert_eq!(out.details["grpc_code"], "NotFound");
        let empty = tonic::Status::new(tonic::Code::Cancelled, "").audit_failure();
        assert!(!empty.error.unwrap().is_empty());
    }
}
