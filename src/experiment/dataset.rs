//! The experiment's dataset: a few hundred samples with an origin split, a label, a loss,
//! tags and a discarded flag, generated deterministically so runs and tests are repeatable.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::query::Row;

/// Which split a sample comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Training data (the `train` denylist).
    Train,
    /// Validation data (the `eval` denylist).
    Val,
    /// Test data (the `eval` denylist).
    Test,
}

impl Origin {
    /// `train`, `val` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Train => "train",
            Origin::Val => "val",
            Origin::Test => "test",
        }
    }

    /// Parses `train`, `val` (or `validation`) and `test`.
    pub fn parse(s: &str) -> Option<Origin> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" => Some(Origin::Train),
            "val" | "validation" => Some(Origin::Val),
            "test" => Some(Origin::Test),
            _ => None,
        }
    }

    /// The denylist a sample of this origin belongs to: `train` or `eval`.
    pub fn split(self) -> Split {
        match self {
            Origin::Train => Split::Train,
            Origin::Val | Origin::Test => Split::Eval,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two denylists of WeightsLab's `TrainerCommand`: training samples and evaluation samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `deny_samples_operation` / `remove_from_denylist_operation`.
    Train,
    /// `deny_eval_samples_operation` / `remove_eval_from_denylist_operation`.
    Eval,
}

impl Split {
    /// `train` or `eval`, as written in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Eval => "eval",
        }
    }
}

/// One data sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// `s1`, `s2`, ...
    pub id: String,
    /// Its split.
    pub origin: Origin,
    /// Class label.
    pub label: i64,
    /// Last training loss.
    pub loss: f64,
    /// User tags.
    pub tags: BTreeSet<String>,
    /// Whether it is excluded from training / evaluation.
    pub discarded: bool,
}

impl Row for Sample {
    fn sample_id(&self) -> &str {
        &self.id
    }
    fn loss(&self) -> f64 {
        self.loss
    }
    fn label(&self) -> i64 {
        self.label
    }
    fn origin(&self) -> &str {
        self.origin.as_str()
    }
    fn has_tag(&self, tag: &str) -> bool {
        self.tags.contains(tag)
    }
    fn discarded(&self) -> bool {
        self.discarded
    }
}

/// `count` samples: 2/3 train, then val and test; losses spread over [0, 1.5), ten labels,
/// and every 37th sample tagged `blurry`. Sample `s{n}` is always the same sample.
pub fn generate(count: usize) -> Vec<Sample> {
    let train = count * 2 / 3;
    let val = (count - train) * 3 / 5;
    // A fixed 64-bit LCG (Knuth's MMIX constants): repeatable and dependency-free.
    let mut state: u64 = 0x5eed_1234_abcd_0042;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 11
    };
    (0..count)
        .map(|i| {
            let origin = if i < train {
                Origin::Train
            } else if i < train + val {
                Origin::Val
            } else {
                Origin::Test
            };
            let r = next();
            let loss = ((r % 15_000) as f64 / 10_000.0 * 1000.0).round() / 1000.0;
            let label = (next() % 10) as i64;
            let mut tags = BTreeSet::new();
            if i % 37 == 5 {
                tags.insert("blurry".to_owned());
            }
            Sample {
                id: format!("s{}", i + 1),
                origin,
                label,
                loss,
                tags,
                discarded: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_split() {
        let a = generate(300);
        assert_eq!(a, generate(300));
        assert_eq!(a.len(), 300);
        assert_eq!(a[0].id, "s1");
        let count = |o| a.iter().filter(|s| s.origin == o).count();
        assert_eq!(
            (
                count(Origin::Train),
                count(Origin::Val),
                count(Origin::Test)
            ),
            (200, 60, 40)
        );
        assert!(a.iter().all(|s| (0.0..1.5).contains(&s.loss)));
        assert!(a.iter().any(|s| s.loss > 0.5) && a.iter().any(|s| s.loss < 0.1));
    }
}
