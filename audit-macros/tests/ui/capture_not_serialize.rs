use audit_runtime::audited;

struct Trainer {
    lr: f64,
}

struct NotSerialize(f64);

impl Trainer {
    #[audited(action = "hp_change", capture = NotSerialize(self.lr))]
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}

fn main() {}
