use audit_runtime::audited;

#[audited(action = "pause", reason = "lunch")]
fn pause() {}

fn main() {}
