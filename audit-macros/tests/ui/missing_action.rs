use audit_runtime::audited;

#[audited(capture = 1)]
fn pause() {}

fn main() {}
