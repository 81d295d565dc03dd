//! `TriggerEvaluation` (`evaluation_start`): one evaluation at a time, of a split, optionally
//! only of some tags.

use std::time::Instant;

use serde_json::json;

use super::dataset::Origin;
use super::{Action, Experiment, Report, obj, plural};
use crate::proto::TriggerEvaluationRequest;

/// The evaluation running (or last run): another may start once `until` has passed.
#[derive(Debug)]
pub(super) struct Evaluation {
    split: String,
    until: Instant,
}

impl Experiment {
    /// `TriggerEvaluation`: starts an evaluation of a split (`train`, `val`, `test` or
    /// `all`), optionally only of samples with one of `tags`, including discarded samples
    /// with `use_full_set`. Refused while another evaluation runs.
    pub fn trigger_evaluation(&self, req: &TriggerEvaluationRequest) -> Report {
        let split = req.split_name.trim();
        let mut d = obj(json!({
            "split_name": split,
            "tags": req.tags,
            "use_full_set": req.use_full_set,
        }));
        let fail = |d, reason: String| Report::one(Action::EvaluationStart, d, Err(reason));
        if split.is_empty() {
            return fail(d, "split_name is empty".to_owned());
        }
        let origin = match split {
            "all" => None,
            other => match Origin::parse(other) {
                Some(o) => Some(o),
                None => {
                    return fail(
                        d,
                        format!("unknown split {other:?}: expected train, val, test or all"),
                    );
                }
            },
        };
        let mut st = self.lock();
        let now = Instant::now();
        if let Some(running) = st.evaluation.as_ref().filter(|e| e.until > now) {
            let left = running.until.saturating_duration_since(now).as_secs_f64();
            let reason = format!(
                "an evaluation is already running on split {:?} ({left:.1} s left)",
                running.split
            );
            return fail(d, reason);
        }
        let count = st
            .samples
            .iter()
            .filter(|s| origin.is_none_or(|o| s.origin == o))
            .filter(|s| req.use_full_set || !s.discarded)
            .filter(|s| req.tags.is_empty() || req.tags.iter().any(|t| s.tags.contains(t)))
            .count();
        st.evaluation = Some(Evaluation {
            split: split.to_owned(),
            until: now + self.config.evaluation_duration,
        });
        d.insert("samples_count".into(), count.into());
        d.insert("model_age".into(), st.model_age.into());
        let msg = format!(
            "evaluation of {} of {split:?} started",
            plural(count, "sample")
        );
        Report::one(Action::EvaluationStart, d, Ok(msg))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::experiment::{Experiment, ExperimentConfig};
    use crate::proto::TriggerEvaluationRequest;

    #[test]
    fn one_evaluation_at_a_time() {
        let exp = Experiment::new(ExperimentConfig {
            evaluation_duration: Duration::from_secs(60),
            ..Default::default()
        });
        let req = |split: &str| TriggerEvaluationRequest {
            split_name: split.into(),
            ..Default::default()
        };
        assert!(exp.trigger_evaluation(&req("")).message().contains("empty"));
        assert!(
            exp.trigger_evaluation(&req("bogus"))
                .message()
                .contains("unknown split")
        );
        let r = exp.trigger_evaluation(&req("val"));
        assert_eq!(r.effects[0].details["samples_count"], 60);
        let r = exp.trigger_evaluation(&req("test"));
        assert!(r.message().contains("already running"), "{r:?}");
    }
}
