use audit_runtime::audited;

#[audited(action = "pause", redact(token, hmac = "sha1"))]
fn pause() {}

fn main() {}
