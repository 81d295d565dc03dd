// Every error type that can carry the refusal compiles with `fail_closed`.
use audit_runtime::{AuditError, AuditUnavailable, audited};

#[derive(Debug)]
struct Mine;
impl From<AuditUnavailable> for Mine {
    fn from(_: AuditUnavailable) -> Self {
        Mine
    }
}

#[audited(action = "pause", fail_closed)]
fn own_error() -> Result<u8, Mine> {
    Ok(1)
}

#[audited(action = "resume", fail_closed)]
fn audit_error() -> Result<(), AuditError> {
    Ok(())
}

#[audited(action = "hp_change", fail_closed)]
fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

#[audited(action = "checkpoint_restore", fail_closed)]
async fn grpc() -> Result<tonic::Response<u8>, tonic::Status> {
    Ok(tonic::Response::new(2))
}

fn main() {
    assert_eq!(own_error().unwrap(), 1);
    audit_error().unwrap();
    boxed().unwrap();
    let _ = grpc();
}
