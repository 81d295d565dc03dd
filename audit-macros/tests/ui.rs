//! Compile-fail tests: every way `#[audited]` and the derives reject their input, with the
//! expected message in `ui/<name>.stderr`. Regenerate with `TRYBUILD=overwrite` and review.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
