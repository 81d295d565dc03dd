// Capturing an argument the body consumes: `capture` is evaluated again after the body,
// when `req` is gone. This used to be rustc's E0382 with a hint to borrow in the
// attribute's expansion.
use audit_runtime::audited;

#[derive(Clone, serde::Serialize)]
struct Req {
    lr: f64,
}

fn consume(_req: Req) {}

#[async_trait::async_trait]
trait Service {
    async fn set(&self, req: Req) -> Result<(), String>;
}

struct S;

#[async_trait::async_trait]
impl Service for S {
    #[audited(action = "hp_change", capture = req.clone())]
    async fn set(&self, req: Req) -> Result<(), String> {
        consume(req);
        Ok(())
    }
}

fn main() {}
