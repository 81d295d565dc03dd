use audit_runtime::audited;

// `fail_closed` promises the call never runs unrecorded, so the function must be able to
// return the refusal: these cannot.
#[audited(action = "pause", fail_closed)]
fn returns_nothing() {}

#[audited(action = "resume", fail_closed)]
fn error_without_conversion() -> Result<(), String> {
    Ok(())
}

#[audited(action = "tag_add", fail_closed)]
fn not_a_result() -> u8 {
    1
}

#[audited(action = "checkpoint_save", fail_closed)]
fn returns_an_unstarted_future() -> impl std::future::Future<Output = Result<(), std::io::Error>> {
    async { Ok(()) }
}

fn main() {}
