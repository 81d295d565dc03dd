use audit_runtime::{AuditAction, AuditOutcome};

#[derive(AuditAction)]
#[audit(crate = audit_runtime, crate = audit_runtime)]
enum LabAction {
    #[audit(name = "retrain", message = why)]
    Retrain,
    #[audit(rename = "swap")]
    Swap,
}

#[derive(AuditOutcome)]
#[audit(name = "reply", succes = ok)]
#[audit(success = ok, message(why))]
struct Reply {
    #[audit(success)]
    ok: bool,
    why: String,
}

fn main() {}
