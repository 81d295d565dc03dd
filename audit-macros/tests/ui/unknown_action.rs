use audit_runtime::audited;

#[audited(action = "tag_ad")]
fn add_tag() {}

fn main() {}
