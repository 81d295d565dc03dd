//! A progress bar on stderr for long reads, shown only when stderr is a terminal and the file
//! is large enough for a wait to be noticeable.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Files smaller than this are read without a bar.
const MIN_BYTES: u64 = 64 * 1024 * 1024;

/// Byte progress through a file; a no-op when hidden.
pub struct Progress {
    bar: Option<ProgressBar>,
    ticks: u32,
}

impl Progress {
    /// A bar over `len` bytes, if stderr is a terminal and `len` is large.
    pub fn new(len: u64) -> Self {
        let bar = (len >= MIN_BYTES && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Progress { bar, ticks: 0 }
    }

    /// Reports that reading reached byte `offset` (cheap: only every few thousand calls
    /// touch the bar).
    pub fn at(&mut self, offset: u64) {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(4096)
            && let Some(bar) = &self.bar
        {
            bar.set_position(offset);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
