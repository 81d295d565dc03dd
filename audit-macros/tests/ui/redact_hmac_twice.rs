use audit_runtime::audited;

// One group of hashed keys and one of redacted keys are allowed; a second of either is not,
// nor is a key in both.
#[audited(action = "pause", redact(user, hmac), redact(token), redact(email, hmac))]
fn pause() {}

#[audited(action = "resume", redact(user, hmac), redact(user))]
fn resume() {}

fn main() {}
