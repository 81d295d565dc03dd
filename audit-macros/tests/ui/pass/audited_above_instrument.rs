// The supported order: `#[audited]` above tracing's `#[instrument]` expands first, so the
// audited call, `capture` included, runs inside the span tracing adds around it.
#![deny(warnings)]

use audit_runtime::audited;
use tracing::instrument;

struct Trainer {
    lr: f64,
}

impl Trainer {
    #[audited(action = "hp_change", capture = self.lr, details(lr))]
    #[instrument(skip(self))]
    async fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    #[audited(action = "hp_change", capture = self.lr)]
    #[instrument(skip(self), err)]
    fn set_lr_sync(&mut self, lr: f64) -> Result<(), String> {
        self.lr = lr;
        Ok(())
    }
}

fn main() {
    let mut trainer = Trainer { lr: 0.1 };
    drop(trainer.set_lr(0.01));
    trainer.set_lr_sync(0.02).unwrap();
    Counter { n: 0 }.bump();
}

// Below `#[instrument]` without `err`/`ret`, a sync body stays where it is, so `capture`
// still works and is not rejected.
struct Counter {
    n: u32,
}

impl Counter {
    #[instrument(skip(self))]
    #[audited(action = "mode_switch", capture = self.n)]
    fn bump(&mut self) {
        self.n += 1;
    }
}
