use audit_runtime::audited;

// A syntax error in the body is rustc's to report; the attribute must not add
// "can only be used on functions and methods" for what is plainly a function.
#[audited(action = "pause")]
fn pause(steps: u32) -> Result<u32, String> {
    let doubled = steps * ;
    Ok(doubled)
}

fn main() {}
