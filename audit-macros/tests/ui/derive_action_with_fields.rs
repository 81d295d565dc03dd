use audit_runtime::AuditAction;

#[derive(AuditAction)]
enum LabAction {
    Retrain { epochs: u32 },
}

fn main() {}
