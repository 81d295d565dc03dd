use audit_runtime::audited;

trait Service {
    #[audited(action = "pause")]
    fn pause(&self);
}

fn main() {}
