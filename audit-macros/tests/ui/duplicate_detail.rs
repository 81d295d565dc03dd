use audit_runtime::audited;

#[audited(action = "pause", details(reason = 1, reason = 2))]
fn pause() {}

fn main() {}
