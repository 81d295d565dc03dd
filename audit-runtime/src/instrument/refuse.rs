//! How the generated code turns [`AuditUnavailable`] into the function's own result type, if
//! it can: `Result<_, E>` with `E: From<AuditUnavailable>` (`tonic::Status`, `AuditError`,
//! `Box<dyn Error + Send + Sync>`, `anyhow::Error`, or a type of yours). Chosen by autoref
//! specialisation, as the outcome probes are: for `(&Refuse::<R>::new()).__audited_refusal(e)`
//! method lookup tries `CarriesRefusal` (implemented on `Refuse<R>`) before
//! `CannotCarryRefusal` (on `&Refuse<R>`, one reference further), so the first applies
//! whenever its bound holds.

use std::marker::PhantomData;

use crate::AuditUnavailable;

/// A stand-in for the function's result type `R`, for method lookup.
pub struct Refuse<R>(PhantomData<fn() -> R>);

impl<R> Refuse<R> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Refuse(PhantomData)
    }
}

/// `R` can carry the refusal: `Err(E::from(unavailable))`.
pub trait CarriesRefusal<R> {
    fn __audited_refusal(&self, unavailable: AuditUnavailable) -> Option<R>;
}

impl<T, E: From<AuditUnavailable>> CarriesRefusal<Result<T, E>> for Refuse<Result<T, E>> {
    fn __audited_refusal(&self, unavailable: AuditUnavailable) -> Option<Result<T, E>> {
        Some(Err(E::from(unavailable)))
    }
}

/// Any other `R`: the call cannot be refused.
pub trait CannotCarryRefusal<R> {
    fn __audited_refusal(&self, unavailable: AuditUnavailable) -> Option<R> {
        drop(unavailable);
        None
    }
}

impl<R> CannotCarryRefusal<R> for &Refuse<R> {}

/// What `#[audited(fail_closed)]` requires of the function's result type.
#[diagnostic::on_unimplemented(
    message = "`#[audited(fail_closed)]` cannot return a refusal as `{Self}`",
    label = "the function must return `Result<_, E>` with `E: From<AuditUnavailable>`",
    note = "`tonic::Status` (feature `tonic`), `AuditError`, `Box<dyn Error + Send + Sync>` and \
            `anyhow::Error` convert; for an error type of yours, implement \
            `From<audit_runtime::AuditUnavailable>`"
)]
pub trait FailClosedResult {}

impl<T, E: From<AuditUnavailable>> FailClosedResult for Result<T, E> {}

/// Fails to compile unless `R` is a [`FailClosedResult`]; expanded for `fail_closed`.
pub const fn must_carry_refusal<R: FailClosedResult>(_: Refuse<R>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Mine(String);
    impl From<AuditUnavailable> for Mine {
        fn from(e: AuditUnavailable) -> Self {
            Mine(e.reason().to_owned())
        }
    }

    #[test]
    #[allow(
        clippy::needless_borrow,
        reason = "the borrow is what lets the first trait win, as in the generated code"
    )]
    fn a_result_whose_error_converts_carries_the_refusal_and_others_do_not() {
        let unavailable = || AuditUnavailable::refused(None, "disk full");
        let carried = (&Refuse::<Result<u8, Mine>>::new()).__audited_refusal(unavailable());
        assert_eq!(carried, Some(Err(Mine("disk full".to_owned()))));
        let string = (&Refuse::<Result<u8, String>>::new()).__audited_refusal(unavailable());
        assert_eq!(string, None);
        let plain = (&Refuse::<u8>::new()).__audited_refusal(unavailable());
        assert_eq!(plain, None);
    }
}
