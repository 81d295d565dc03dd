use audit_runtime::audited;

enum Plain {
    Retrain,
}

#[audited(action = Plain::Retrain)]
fn retrain() {}

fn main() {}
