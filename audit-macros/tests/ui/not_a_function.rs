use audit_runtime::audited;

#[audited(action = "pause")]
struct Pause;

fn main() {}
