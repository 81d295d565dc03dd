//! Compile-fail tests: every way `#[audited]` and the derives reject their input, with the
//! expected message in `ui/<name>.stderr`. Regenerate with `TRYBUILD=overwrite` and review.
//!
//! `ui/pass/` holds programs that must compile (and run) as they are, warnings included.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
