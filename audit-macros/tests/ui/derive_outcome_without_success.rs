use audit_runtime::AuditOutcome;

#[derive(AuditOutcome)]
struct Reply {
    ok: bool,
    message: String,
}

fn main() {}
