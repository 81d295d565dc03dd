//! What `capture` records: the keys whose values differ between before and after.

use serde_json::{Map, Value};

pub(super) fn changed_keys(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Map<String, Value> {
    let mut changed = Map::new();
    for (key, old) in before {
        let new = after.get(key).unwrap_or(&Value::Null);
        if old != new {
            changed.insert(key.clone(), pair(old.clone(), new.clone()));
        }
    }
    for (key, new) in after {
        if !before.contains_key(key) {
            changed.insert(key.clone(), pair(Value::Null, new.clone()));
        }
    }
    changed
}

fn pair(before: Value, after: Value) -> Value {
    let mut map = Map::new();
    map.insert("before".to_owned(), before);
    map.insert("after".to_owned(), after);
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_lists_only_differing_keys() {
        let before = json!({"lr": 0.1, "bs": 32, "gone": 1});
        let after = json!({"lr": 0.01, "bs": 32, "new": true});
        let changed = changed_keys(before.as_object().unwrap(), after.as_object().unwrap());
        assert_eq!(
            Value::Object(changed),
            json!({
                "lr": {"before": 0.1, "after": 0.01},
                "gone": {"before": 1, "after": null},
                "new": {"before": null, "after": true},
            })
        );
    }
}
