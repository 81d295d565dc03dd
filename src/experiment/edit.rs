//! `EditDataSample`: tags (`stat_name` `tag` or `tag:<name>`: `tag_add` / `tag_remove`) and
//! the discarded flag (`stat_name` `discarded`: `sample_discard` / `sample_restore`).

use std::collections::BTreeSet;

use serde_json::json;

use super::{Action, Experiment, Report, obj, plural};
use crate::proto::{DataEditsRequest, SampleEditType};

impl Experiment {
    /// `EditDataSample`: tags (`stat_name` `tag` or `tag:<name>`) or the discarded flag
    /// (`stat_name` `discarded`). `Err` for any other `stat_name`: nothing to audit.
    pub fn edit(&self, req: &DataEditsRequest) -> Result<Report, String> {
        let stat = req.stat_name.trim();
        let edit_type =
            SampleEditType::try_from(req.r#type).unwrap_or(SampleEditType::EditOverride);
        let mut st = self.lock();
        if stat == "discarded" {
            let action = if req.bool_value {
                Action::SampleDiscard
            } else {
                Action::SampleRestore
            };
            let mut d = obj(json!({"sample_ids": req.samples_ids}));
            let idx = match st.resolve(&req.samples_ids, &req.sample_origins) {
                Ok(idx) => idx,
                Err(e) => return Ok(Report::one(action, d, Err(e))),
            };
            let mut affected = 0;
            for &i in &idx {
                let s = &mut st.samples[i];
                affected += usize::from(s.discarded != req.bool_value);
                s.discarded = req.bool_value;
            }
            d.insert("samples_affected".into(), affected.into());
            d.insert("origins".into(), st.origins(&idx));
            let verb = if req.bool_value {
                "discarded"
            } else {
                "restored"
            };
            return Ok(Report::one(
                action,
                d,
                Ok(format!("{} {verb}", plural(affected, "sample"))),
            ));
        }
        let tag = match stat.strip_prefix("tag:") {
            Some(name) => name.trim(),
            None if stat == "tag" || stat == "tags" => req.string_value.trim(),
            None => {
                return Err(format!(
                    "unsupported stat_name {stat:?}: expected \"tag\", \"tag:<name>\" or \"discarded\""
                ));
            }
        };
        let (action, mode) = match edit_type {
            SampleEditType::EditRemove => (Action::TagRemove, "remove"),
            SampleEditType::EditAccumulate => (Action::TagAdd, "accumulate"),
            SampleEditType::EditOverride => (Action::TagAdd, "override"),
        };
        let mut d = obj(json!({"tag_name": tag, "sample_ids": req.samples_ids, "edit_type": mode}));
        if tag.is_empty() {
            return Ok(Report::one(
                action,
                d,
                Err("the tag name is empty".to_owned()),
            ));
        }
        let idx = match st.resolve(&req.samples_ids, &req.sample_origins) {
            Ok(idx) => idx,
            Err(e) => return Ok(Report::one(action, d, Err(e))),
        };
        let mut affected = 0;
        for &i in &idx {
            let tags = &mut st.samples[i].tags;
            let changed = match edit_type {
                SampleEditType::EditRemove => tags.remove(tag),
                SampleEditType::EditAccumulate => tags.insert(tag.to_owned()),
                SampleEditType::EditOverride => {
                    let changed = !(tags.len() == 1 && tags.contains(tag));
                    *tags = BTreeSet::from([tag.to_owned()]);
                    changed
                }
            };
            affected += usize::from(changed);
        }
        d.insert("samples_affected".into(), affected.into());
        d.insert("origins".into(), st.origins(&idx));
        let msg = format!("tag {tag:?}: {} changed", plural(affected, "sample"));
        Ok(Report::one(action, d, Ok(msg)))
    }
}

#[cfg(test)]
mod tests {
    use crate::experiment::{Experiment, actions};
    use crate::proto::{DataEditsRequest, SampleEditType};

    #[test]
    fn tag_edits_count_real_changes() {
        let exp = Experiment::default();
        let edit = |ty: SampleEditType, ids: &[&str]| DataEditsRequest {
            stat_name: "tag:defect".into(),
            r#type: ty as i32,
            samples_ids: ids.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let r = exp
            .edit(&edit(SampleEditType::EditAccumulate, &["s1", "s2"]))
            .unwrap();
        assert_eq!(r.effects[0].details["samples_affected"], 2);
        let r = exp
            .edit(&edit(SampleEditType::EditAccumulate, &["s1"]))
            .unwrap();
        assert_eq!(r.effects[0].details["samples_affected"], 0);
        let r = exp
            .edit(&edit(SampleEditType::EditRemove, &["s1", "s2"]))
            .unwrap();
        assert_eq!(actions(&r), ["tag_remove"]);
        assert_eq!(r.effects[0].details["samples_affected"], 2);
        assert!(
            exp.edit(&DataEditsRequest {
                stat_name: "label".into(),
                ..Default::default()
            })
            .is_err()
        );
    }
}
