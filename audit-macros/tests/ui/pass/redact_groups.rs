// `redact(a, b)` as before, and one more group ending in `hmac` whose keys are hashed; a
// string key may be named "hmac".
#![deny(warnings)]

use audit_runtime::audited;

#[audited(action = "hp_change", details(user, note, hmac = 1), redact(note, "hmac"), redact(user, hmac))]
fn set(user: &str, note: &str) {
    let _ = (user, note);
}

#[audited(action = "pause", redact(user, hmac))]
fn pause(user: &str) {
    let _ = user;
}

fn main() {
    set("alice", "n");
    pause("bob");
}
