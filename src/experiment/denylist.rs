//! The two denylists of a command (`deny[_eval]_samples_operation`: `sample_discard`,
//! `remove[_eval]_from_denylist_operation`: `sample_restore`), each holding only samples of
//! its own split.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::dataset::Split;
use super::{Action, Planned, State, obj};
use crate::proto::DenySamplesOperation;

/// A validated denylist edit.
pub(super) struct DenylistChange {
    split: Split,
    deny: bool,
    indices: Vec<usize>,
    accumulate: bool,
}

pub(super) fn plan(
    st: &State,
    op: &DenySamplesOperation,
    split: Split,
    deny: bool,
) -> Planned<DenylistChange> {
    let action = if deny {
        Action::SampleDiscard
    } else {
        Action::SampleRestore
    };
    let details = obj(json!({
        "sample_ids": op.sample_ids,
        "split": split.as_str(),
        "accumulate": op.accumulate,
    }));
    let change = st.resolve(&op.sample_ids, &[]).and_then(|indices| {
        match indices
            .iter()
            .find(|&&i| st.samples[i].origin.split() != split)
        {
            Some(&i) => Err(format!(
                "sample {:?} is a {} sample, not in the {} denylist",
                st.samples[i].id,
                st.samples[i].origin,
                split.as_str()
            )),
            None => Ok(DenylistChange {
                split,
                deny,
                indices,
                accumulate: op.accumulate,
            }),
        }
    });
    Planned {
        action,
        details,
        change,
    }
}

impl State {
    /// Applies the edit; the details get how many samples changed and their origins.
    pub(super) fn apply_denylist(&mut self, change: DenylistChange, d: &mut Map<String, Value>) {
        let DenylistChange {
            split,
            deny,
            indices,
            accumulate,
        } = change;
        let mut affected = 0usize;
        if deny && !accumulate {
            // Without accumulate, the listed samples become the whole denylist.
            let keep: BTreeSet<usize> = indices.iter().copied().collect();
            let mut released = 0usize;
            for (i, s) in self.samples.iter_mut().enumerate() {
                if s.origin.split() == split && s.discarded && !keep.contains(&i) {
                    s.discarded = false;
                    released += 1;
                }
            }
            d.insert("released_from_denylist".into(), released.into());
        }
        for &i in &indices {
            let s = &mut self.samples[i];
            affected += usize::from(s.discarded != deny);
            s.discarded = deny;
        }
        d.insert("samples_affected".into(), affected.into());
        d.insert("origins".into(), self.origins(&indices));
    }
}

#[cfg(test)]
mod tests {
    use crate::experiment::{Experiment, actions};
    use crate::proto::{DenySamplesOperation, TrainerCommand};

    #[test]
    fn denylists_respect_splits_and_accumulate() {
        let exp = Experiment::default();
        let deny = |ids: &[&str], accumulate| DenySamplesOperation {
            sample_ids: ids.iter().map(|s| s.to_string()).collect(),
            accumulate,
        };
        let r = exp.command(&TrainerCommand {
            deny_samples_operation: Some(deny(&["s1", "s2"], true)),
            ..Default::default()
        });
        assert_eq!(r.effects[0].details["samples_affected"], 2);
        let r = exp.command(&TrainerCommand {
            deny_samples_operation: Some(deny(&["s3"], false)),
            ..Default::default()
        });
        assert_eq!(r.effects[0].details["released_from_denylist"], 2);
        let discarded: Vec<String> = exp
            .samples()
            .into_iter()
            .filter(|s| s.discarded)
            .map(|s| s.id)
            .collect();
        assert_eq!(discarded, ["s3"]);
        // s300 is a test sample: not in the train denylist.
        let r = exp.command(&TrainerCommand {
            deny_samples_operation: Some(deny(&["s300"], true)),
            ..Default::default()
        });
        assert!(r.message().contains("not in the train denylist"), "{r:?}");
        let r = exp.command(&TrainerCommand {
            remove_from_denylist_operation: Some(deny(&["s3"], false)),
            ..Default::default()
        });
        assert_eq!(actions(&r), ["sample_restore"]);
        assert_eq!(r.effects[0].details["samples_affected"], 1);
    }
}
