//! Autoref-specialised probes that turn a returned value into an [`Outcome`] without the
//! user annotating anything. The generated code calls them with the probed value behind
//! as many `&` as the probe has levels; method resolution then picks the most specific
//! impl whose bounds hold.

use std::fmt::{Debug, Display};

use super::outcome::{AuditFailure, AuditOutcome, Outcome};

/// The value under inspection.
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// `Ok` value, level 1: it says itself.
pub trait OkSaysItself {
    /// The outcome.
    fn __audited_ok_outcome(&self) -> Outcome;
}
impl<T: AuditOutcome + ?Sized> OkSaysItself for &Probe<'_, T> {
    fn __audited_ok_outcome(&self) -> Outcome {
        self.0.audit_outcome()
    }
}
/// `Ok` value, level 2: success.
pub trait OkIsSuccess {
    /// The outcome.
    fn __audited_ok_outcome(&self) -> Outcome;
}
impl<T: ?Sized> OkIsSuccess for Probe<'_, T> {
    fn __audited_ok_outcome(&self) -> Outcome {
        Outcome::success()
    }
}

/// `Err` value, level 1: it describes itself.
pub trait ErrSaysItself {
    /// The outcome.
    fn __audited_err_outcome(&self) -> Outcome;
}
impl<E: AuditFailure + ?Sized> ErrSaysItself for &&&Probe<'_, E> {
    fn __audited_err_outcome(&self) -> Outcome {
        let mut out = self.0.audit_failure();
        out.status = crate::Status::Failed;
        out
    }
}
/// `Err` value, level 2: its `Display`.
pub trait ErrDisplay {
    /// The outcome.
    fn __audited_err_outcome(&self) -> Outcome;
}
impl<E: Display + ?Sized> ErrDisplay for &&Probe<'_, E> {
    fn __audited_err_outcome(&self) -> Outcome {
        Outcome::failed(self.0.to_string())
    }
}
/// `Err` value, level 3: its `Debug`.
pub trait ErrDebug {
    /// The outcome.
    fn __audited_err_outcome(&self) -> Outcome;
}
impl<E: Debug + ?Sized> ErrDebug for &Probe<'_, E> {
    fn __audited_err_outcome(&self) -> Outcome {
        Outcome::failed(format!("{:?}", self.0))
    }
}
/// `Err` value, level 4: its type's name.
pub trait ErrOpaque {
    /// The outcome.
    fn __audited_err_outcome(&self) -> Outcome;
}
impl<E: ?Sized> ErrOpaque for Probe<'_, E> {
    fn __audited_err_outcome(&self) -> Outcome {
        Outcome::failed(format!("an error of type {}", std::any::type_name::<E>()))
    }
}

/// Whole value (a return type not spelled `Result<..>`), level 1: it says itself.
pub trait ValueSaysItself {
    /// The outcome.
    fn __audited_value_outcome(&self) -> Outcome;
}
impl<T: AuditOutcome + ?Sized> ValueSaysItself for &&Probe<'_, T> {
    fn __audited_value_outcome(&self) -> Outcome {
        self.0.audit_outcome()
    }
}
/// Whole value, level 2: a `Result` whose error displays.
pub trait ValueIsResult {
    /// The outcome.
    fn __audited_value_outcome(&self) -> Outcome;
}
impl<T, E: Display> ValueIsResult for &Probe<'_, Result<T, E>> {
    fn __audited_value_outcome(&self) -> Outcome {
        match self.0 {
            Ok(_) => Outcome::success(),
            Err(e) => Outcome::failed(e.to_string()),
        }
    }
}
/// Whole value, level 3: success.
pub trait ValueIsSuccess {
    /// The outcome.
    fn __audited_value_outcome(&self) -> Outcome;
}
impl<T: ?Sized> ValueIsSuccess for Probe<'_, T> {
    fn __audited_value_outcome(&self) -> Outcome {
        Outcome::success()
    }
}

#[cfg(test)]
// The extra borrows are the point: they select the probe level.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    #[test]
    fn probes_pick_the_most_specific_level() {
        struct Opaque;
        #[derive(Debug)]
        struct OnlyDebug;
        let e: &str = "boom";
        assert_eq!(
            (&&&&Probe(&e)).__audited_err_outcome().error.as_deref(),
            Some("boom")
        );
        assert_eq!(
            (&&&&Probe(&OnlyDebug))
                .__audited_err_outcome()
                .error
                .as_deref(),
            Some("OnlyDebug")
        );
        assert!(
            (&&&&Probe(&Opaque))
                .__audited_err_outcome()
                .error
                .unwrap()
                .contains("Opaque")
        );
        assert!((&&Probe(&42u8)).__audited_ok_outcome().is_success());
        let inner = Outcome::failed("said so");
        assert!(!(&&Probe(&inner)).__audited_ok_outcome().is_success());
        let r: Result<u8, String> = Err("x".into());
        assert_eq!(
            (&&&Probe(&r)).__audited_value_outcome().error.as_deref(),
            Some("x")
        );
        assert!((&&&Probe(&7u8)).__audited_value_outcome().is_success());
    }
}
