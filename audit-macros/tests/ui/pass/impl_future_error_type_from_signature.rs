// A function returning `impl Future` whose body leaves the error type to the signature
// compiled unannotated but not with `#[audited]`: the outcome probe ran before the type
// was known and asked for `String: AuditFailure`.
#![deny(warnings)]

use std::future::Future;
use std::pin::Pin;

use audit_runtime::audited;

#[audited(action = "tag_add")]
fn tag() -> impl Future<Output = Result<(), String>> {
    async { Ok(()) }
}

#[audited(action = "tag_remove")]
fn untag(fail: bool) -> Pin<Box<dyn Future<Output = Result<u32, String>> + Send>> {
    Box::pin(async move {
        if fail {
            return Err("no such tag".into());
        }
        Ok(1)
    })
}

fn main() {
    drop(tag());
    drop(untag(false));
}
