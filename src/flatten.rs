//! Nested JSON as `a.b.c` paths, to name exactly which value changed.

use std::collections::BTreeMap;

use serde_json::Value;

/// Leaf values by dotted path (arrays are leaves: they change as a whole). Nothing at
/// all (`null`, `{}`: a stage without metrics, or absent from a run) has no paths.
pub fn flatten(value: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    match value {
        Value::Null => {}
        Value::Object(map) if map.is_empty() => {}
        _ => walk("", value, &mut out),
    }
    out
}

fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                walk(&path, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// A value that differs between two versions (`None`: absent on that side).
pub struct Change {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Every path whose value differs, sorted by path. An empty mapping where the other side
/// has keys below it is no change of its own: `{pooling: max}` -> `{}` is
/// `pooling: "max" -> (none)`, not also `(none) -> {}` at the mapping's path.
pub fn changes(old: &Value, new: &Value) -> Vec<Change> {
    let (old, new) = (flatten(old), flatten(new));
    let paths: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    paths
        .into_iter()
        .filter(|p| old.get(*p) != new.get(*p) && !emptied(&old, &new, p) && !emptied(&new, &old, p))
        .map(|p| Change { path: p.clone(), old: old.get(p).cloned(), new: new.get(p).cloned() })
        .collect()
}

/// `here` holds an empty mapping at `path` and `there` has keys below it.
fn emptied(here: &BTreeMap<String, Value>, there: &BTreeMap<String, Value>, path: &str) -> bool {
    let prefix = format!("{path}.");
    matches!(here.get(path), Some(Value::Object(m)) if m.is_empty()) && there.keys().any(|k| k.starts_with(&prefix))
}

impl Change {
    /// `old -> new`, with `(none)` for a missing side.
    pub fn arrow(&self) -> String {
        let show = |v: &Option<Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "(none)".into());
        format!("{} -> {}", show(&self.old), show(&self.new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_changed_leaves() {
        let c = changes(&json!({"a": {"b": 1, "c": 2}, "d": [1]}), &json!({"a": {"b": 1, "c": 3}, "e": true}));
        let paths: Vec<String> = c.iter().map(|c| format!("{}: {}", c.path, c.arrow())).collect();
        assert_eq!(paths, ["a.c: 2 -> 3", "d: [1] -> (none)", "e: (none) -> true"]);
    }

    #[test]
    fn no_metrics_on_either_side_are_no_paths() {
        let c = changes(&json!({"n": 2}), &json!({}));
        assert_eq!(c.iter().map(|c| format!("{}: {}", c.path, c.arrow())).collect::<Vec<_>>(), ["n: 2 -> (none)"]);
        assert!(changes(&Value::Null, &json!({})).is_empty());
        assert!(flatten(&json!({"a": {}}))["a"] == json!({}), "an empty object inside is a value");
    }

    #[test]
    fn a_mapping_emptied_or_filled_is_the_change_of_its_keys() {
        let arrows =
            |old, new| changes(&old, &new).iter().map(|c| format!("{}: {}", c.path, c.arrow())).collect::<Vec<_>>();
        let (full, empty) = (json!({"reference": {"pooling": "max"}}), json!({"reference": {}}));
        assert_eq!(arrows(full.clone(), empty.clone()), ["reference.pooling: \"max\" -> (none)"]);
        assert_eq!(arrows(empty.clone(), full), ["reference.pooling: (none) -> \"max\""]);
        assert_eq!(arrows(empty, json!({})), ["reference: {} -> (none)"], "an empty mapping on its own is a value");
    }
}
