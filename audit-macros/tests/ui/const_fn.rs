use audit_runtime::audited;

#[audited(action = "pause")]
const fn pause() {}

fn main() {}
