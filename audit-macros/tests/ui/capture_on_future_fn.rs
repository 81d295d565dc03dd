use std::future::Future;

use audit_runtime::audited;

#[audited(action = "query_execute", capture = 1)]
fn query() -> impl Future<Output = u32> {
    async { 1 }
}

fn main() {}
