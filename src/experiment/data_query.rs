//! `ApplyDataQuery` (`query_execute`): filters the samples with the language of
//! [`crate::query`]; with `accumulate`, on top of the previous query's result.

use std::collections::BTreeSet;

use serde_json::json;

use super::dataset::Sample;
use super::{Action, Experiment, Report, obj};
use crate::proto::DataQueryRequest;
use crate::query::Expr;

/// The counts `ApplyDataQuery` answers with, over the samples a query matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryView {
    /// Matching samples.
    pub matching: usize,
    /// Matching samples not discarded.
    pub in_the_loop: usize,
    /// Matching samples discarded.
    pub discarded: usize,
    /// Tags on matching samples, sorted.
    pub unique_tags: Vec<String>,
}

impl Experiment {
    /// `ApplyDataQuery`: filters the samples (see [`crate::query`]); with `accumulate`, on
    /// top of the previous query. Returns the report and, on success, the matching view.
    pub fn query(&self, req: &DataQueryRequest) -> (Report, Option<QueryView>) {
        let query_type = if req.is_natural_language {
            "natural_language"
        } else {
            "pandas"
        };
        let mut d = obj(json!({
            "query_type": query_type,
            "query_text": req.query,
            "accumulate": req.accumulate,
        }));
        let expr = match Expr::parse(&req.query) {
            Ok(expr) => expr,
            Err(e) => {
                let reason = if req.is_natural_language {
                    // No language model here: natural-language queries must already be in the
                    // filter language.
                    format!(
                        "{e} (this server understands natural-language queries only when written in the filter language)"
                    )
                } else {
                    e.to_string()
                };
                return (Report::one(Action::QueryExecute, d, Err(reason)), None);
            }
        };
        let mut st = self.lock();
        let expr = if req.accumulate {
            Expr::And(Box::new(st.view.clone()), Box::new(expr))
        } else {
            expr
        };
        let matching: Vec<&Sample> = st.samples.iter().filter(|s| expr.matches(*s)).collect();
        let discarded = matching.iter().filter(|s| s.discarded).count();
        let tags: BTreeSet<&str> = matching
            .iter()
            .flat_map(|s| s.tags.iter().map(String::as_str))
            .collect();
        let view = QueryView {
            matching: matching.len(),
            in_the_loop: matching.len() - discarded,
            discarded,
            unique_tags: tags.into_iter().map(str::to_owned).collect(),
        };
        st.view = expr;
        d.insert("results_count".into(), view.matching.into());
        let msg = match view.matching {
            1 => "1 sample matches".to_owned(),
            n => format!("{n} samples match"),
        };
        (Report::one(Action::QueryExecute, d, Ok(msg)), Some(view))
    }
}

#[cfg(test)]
mod tests {
    use crate::experiment::Experiment;
    use crate::proto::DataQueryRequest;

    #[test]
    fn queries_accumulate_on_the_previous_view() {
        let exp = Experiment::default();
        let q = |query: &str, accumulate| DataQueryRequest {
            query: query.into(),
            accumulate,
            is_natural_language: false,
        };
        let (_, all) = exp.query(&q("", false));
        assert_eq!(all.unwrap().matching, 300);
        let (_, val) = exp.query(&q("origin == 'val'", false));
        assert_eq!(val.unwrap().matching, 60);
        let (r, low) = exp.query(&q("loss < 0.75", true));
        let low = low.unwrap();
        assert!(low.matching < 60 && low.matching > 0);
        assert_eq!(r.effects[0].details["results_count"], low.matching);
        let (r, none) = exp.query(&q("loss <", false));
        assert!(none.is_none());
        assert!(r.message().starts_with("Invalid query syntax"));
    }
}
