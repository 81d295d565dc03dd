use audit_runtime::AuditAction;

// `success` names a field of an `AuditOutcome` struct; on an `AuditAction` enum it means
// nothing, and used to be accepted without a word.
#[derive(AuditAction)]
#[audit(success = ok)]
enum LabAction {
    Retrain,
}

fn main() {}
