use audit_runtime::audited;
use tracing::instrument;

struct Trainer {
    lr: f64,
}

impl Trainer {
    // `#[instrument]` expands first and moves the arguments into an `async move` block
    // (a `move` closure with `err`); `capture` then read `self` after the move, and rustc
    // said only E0382.
    #[instrument(skip(self))]
    #[audited(action = "hp_change", capture = self.lr)]
    async fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    #[instrument(skip(self), err)]
    #[audited(action = "hp_change", capture = self.lr)]
    fn set_lr_sync(&mut self, lr: f64) -> Result<(), String> {
        self.lr = lr;
        Ok(())
    }
}

fn main() {}
