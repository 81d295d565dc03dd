use audit_runtime::audited;

#[audited(action = "pause", redact(hmac, token))]
fn pause(token: &str) {
    let _ = token;
}

fn main() {}
