use audit_runtime::audited;

// A typo of one of WeightsLab v2.0's actions is suggested like the spec's.
#[audited(action = "notebook_runn")]
fn run_cell() {}

fn main() {}
