//! What an event may hold before it is written: the checks every entry point's events pass
//! ([`prepare`]), the nesting limit on `details`, and a drop that never recurses for the
//! values it refuses. The rules for events *read* from a log live with the readers
//! (`crate::read`).

use serde_json::{Map, Value};

use crate::event::stored_error;
use crate::{AuditError, InvalidEventKind};

/// How deeply `details` may nest: the details object itself is level 1, and each array or
/// object inside it one more (`{"a": {"b": [1]}}` has 3 levels). A deeper event is refused
/// with [`AuditError::InvalidEvent`] ([`InvalidEventKind::TooDeep`]) naming the path to the first container that is too
/// deep, before anything is written.
///
/// Why a limit: JSON parsers stop at some depth (serde_json, which our readers use, at 128
/// nested containers; Python's `json` near its recursion limit), and a log must stay
/// readable by them. In `audit_log.json` an event is one more level (the event object), two
/// when the whole array is parsed at once; in `audit_log.csv` the `details` cell is parsed
/// alone. 100 leaves room in both, and is far deeper than any real before/after value.
pub const MAX_DETAILS_DEPTH: usize = 100;

/// The checks every event passes before it is written or buffered, whichever way it came in
/// (`log_event`, `log_serialize`, `#[audited]`, the global logger before `init`): the one
/// place that decides what an acknowledged event may hold. Returns the details and the
/// error as they are to be stored.
pub(crate) fn prepare<'e>(
    action_type: &str,
    details: Map<String, Value>,
    error: Option<&'e str>,
) -> Result<(Map<String, Value>, Option<&'e str>), AuditError> {
    if action_type.trim().is_empty() {
        return Err(AuditError::invalid_event(
            InvalidEventKind::EmptyActionType,
            "the action type is empty",
        ));
    }
    if let Some(path) = too_deep(&details) {
        dismantle(Value::Object(details));
        return Err(AuditError::invalid_event(
            InvalidEventKind::TooDeep,
            format!(
                "details nest deeper than {MAX_DETAILS_DEPTH} levels (MAX_DETAILS_DEPTH, so that \
             JSON parsers can read the log), first at {path}"
            ),
        ));
    }
    Ok((details, stored_error(error)))
}

/// Whether `details` nests no deeper than [`MAX_DETAILS_DEPTH`] (the object itself is level
/// 1). Most events are shallow: this check, whose recursion the limit bounds (at most
/// MAX_DETAILS_DEPTH frames, whatever the input) and which allocates nothing, answers for
/// them; only details that fail it are walked again to name the path.
pub(crate) fn within_depth(details: &Map<String, Value>) -> bool {
    fn within(value: &Value, levels_left: usize) -> bool {
        match value {
            Value::Object(map) => {
                levels_left > 0 && map.values().all(|v| within(v, levels_left - 1))
            }
            Value::Array(items) => {
                levels_left > 0 && items.iter().all(|v| within(v, levels_left - 1))
            }
            _ => true,
        }
    }
    details.values().all(|v| within(v, MAX_DETAILS_DEPTH - 1))
}

/// The path (`details.a[0].b`) to the first container in `details` that is deeper than
/// [`MAX_DETAILS_DEPTH`], if any. Walks with a stack of its own, never deeper than the limit,
/// so input of any depth neither recurses nor overflows.
fn too_deep(details: &Map<String, Value>) -> Option<String> {
    enum Children<'a> {
        Object(serde_json::map::Iter<'a>),
        Array(std::iter::Enumerate<std::slice::Iter<'a, Value>>),
    }
    enum Step<'a> {
        Key(&'a str),
        Index(usize),
    }
    fn children(value: &Value) -> Option<Children<'_>> {
        match value {
            Value::Object(map) => Some(Children::Object(map.iter())),
            Value::Array(items) => Some(Children::Array(items.iter().enumerate())),
            _ => None,
        }
    }
    if within_depth(details) {
        return None;
    }
    // `open[i]` walks the children of the container at level i + 1; `path[i]` is how the
    // container at level i + 2 was reached.
    let mut open = vec![Children::Object(details.iter())];
    let mut path: Vec<Step<'_>> = Vec::new();
    while let Some(current) = open.last_mut() {
        let next = match current {
            Children::Object(it) => it.next().map(|(k, v)| (Step::Key(k.as_str()), v)),
            Children::Array(it) => it.next().map(|(i, v)| (Step::Index(i), v)),
        };
        let Some((step, child)) = next else {
            open.pop();
            path.pop();
            continue;
        };
        let Some(grandchildren) = children(child) else {
            continue;
        };
        path.push(step);
        if open.len() + 1 > MAX_DETAILS_DEPTH {
            return Some(render_path(&path));
        }
        open.push(grandchildren);
    }
    return None;

    fn render_path(path: &[Step<'_>]) -> String {
        use std::fmt::Write;
        let mut out = String::from("details");
        for step in path {
            match step {
                Step::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
                Step::Key(key) => {
                    // Long keys are cut: the message must stay readable.
                    let shown: String = key.chars().take(40).collect();
                    let shown = if shown.len() < key.len() {
                        format!("{shown}…")
                    } else {
                        shown
                    };
                    let plain = !shown.is_empty()
                        && shown
                            .chars()
                            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '…'));
                    if plain {
                        let _ = write!(out, ".{shown}");
                    } else {
                        let _ = write!(out, "[{}]", Value::String(shown));
                    }
                }
            }
        }
        out
    }
}

/// Drops a JSON value of any depth without recursion.
///
/// serde_json's own drop recurses once per level and overflows a thread's stack at about
/// ten thousand levels, which aborts the process. The logger dismantles every too-deep
/// value it refuses with this; use it for a deep value you built yourself.
///
/// ```
/// use serde_json::Value;
/// let mut deep = Value::from(1);
/// for _ in 0..100_000 {
///     deep = Value::Array(vec![deep]); // not `json!([deep])`, which copies `deep` each time
/// }
/// audit_runtime::dismantle(deep);
/// ```
pub fn dismantle(value: Value) {
    fn take_children(value: Value, pending: &mut Vec<Value>) {
        // Scalars and empty containers are dropped here, in constant stack.
        let nested = |v: &Value| match v {
            Value::Array(items) => !items.is_empty(),
            Value::Object(map) => !map.is_empty(),
            _ => false,
        };
        match value {
            Value::Array(items) => pending.extend(items.into_iter().filter(nested)),
            Value::Object(map) => pending.extend(map.into_iter().map(|(_, v)| v).filter(nested)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    take_children(value, &mut pending);
    while let Some(value) = pending.pop() {
        take_children(value, &mut pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::details_object;
    use serde_json::json;

    #[test]
    fn the_depth_limit_names_the_path_to_the_first_container_too_deep() {
        // Level 1 is the details object; build MAX_DETAILS_DEPTH - 2 more object levels
        // under "a b", then an array at the limit holding one object (one level too deep).
        let mut value = json!([{"x": 1}]);
        for _ in 0..MAX_DETAILS_DEPTH - 2 {
            value = json!({"k": value});
        }
        let details = details_object(Some(json!({"flat": 1, "a b": value})));
        let err = prepare("hp_change", details, None).unwrap_err().to_string();
        let expected = format!(
            "first at details[\"a b\"]{}[0]",
            ".k".repeat(MAX_DETAILS_DEPTH - 2)
        );
        assert!(err.ends_with(&expected), "{err}");
        assert!(err.contains("MAX_DETAILS_DEPTH"), "{err}");

        // One level less is fine; so is a wide but shallow object.
        let mut value = json!([1]);
        for _ in 0..MAX_DETAILS_DEPTH - 2 {
            value = json!({"k": value});
        }
        assert!(prepare("a", details_object(Some(json!({"a": value}))), None).is_ok());
        let wide: Map<String, Value> = (0..1000).map(|i| (i.to_string(), json!([[i]]))).collect();
        assert!(prepare("a", wide, None).is_ok());
    }

    #[test]
    fn dismantle_takes_apart_what_would_overflow_a_recursive_drop() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                // Built by hand: `json!` would serialise (and drop) the value at each step.
                let mut value = Value::from("leaf");
                for i in 0..200_000 {
                    value = if i % 2 == 0 {
                        Value::Array(vec![value, Value::from(1)])
                    } else {
                        let mut map = Map::new();
                        map.insert("a".to_owned(), value);
                        Value::Object(map)
                    };
                }
                dismantle(value);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
