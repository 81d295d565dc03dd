use audit_runtime::audited;

#[audited(action = "pause", capture = 1, capture = 2)]
fn pause() {}

fn main() {}
