use audit_runtime::AuditAction;

#[derive(AuditAction)]
enum LabAction {
    Retrain,
    #[audit(name = "retrain")]
    RetrainAgain,
}

fn main() {}
