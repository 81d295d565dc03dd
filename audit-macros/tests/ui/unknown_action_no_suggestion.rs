use audit_runtime::audited;

#[audited(action = "tag_add" | "launch_rockets")]
fn add_tag() {}

fn main() {}
