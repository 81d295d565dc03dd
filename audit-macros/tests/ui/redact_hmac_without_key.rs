use audit_runtime::audited;

#[audited(action = "pause", redact(hmac))]
fn pause() {}

fn main() {}
