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
    /// `old -> new`, with `(none)` for a missing side (see [`arrow`]).
    pub fn arrow(&self) -> String {
        arrow(self.old.as_ref(), self.new.as_ref())
    }
}

/// `old -> new`, with `(none)` for a missing side. Of two long strings (a command with one
/// value interpolated, say) only where they differ, with some context either side.
pub fn arrow(old: Option<&Value>, new: Option<&Value>) -> String {
    if let (Some(Value::String(old)), Some(Value::String(new))) = (old, new) {
        if old.chars().count().max(new.chars().count()) > LONG {
            let (old, new) = around_difference(old, new);
            return format!("{old} -> {new}");
        }
    }
    let show = |v: Option<&Value>| v.map(|v| v.to_string()).unwrap_or_else(|| "(none)".into());
    format!("{} -> {}", show(old), show(new))
}

/// Strings longer than this (in chars) are shown around their difference.
const LONG: usize = 60;
/// Chars kept before and after the difference.
const CONTEXT: usize = 16;

/// `old` and `new` quoted, cut to their differing middle and `CONTEXT` chars around it, `…`
/// where something was cut.
fn around_difference(old: &str, new: &str) -> (String, String) {
    let (old, new): (Vec<char>, Vec<char>) = (old.chars().collect(), new.chars().collect());
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..].iter().rev().zip(new[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    // A cut of a few chars hides nothing worth the `…`.
    let start = Some(prefix.saturating_sub(CONTEXT)).filter(|&s| s > 3).unwrap_or(0);
    let cut = |s: &[char]| {
        let end = Some(s.len() - suffix + CONTEXT).filter(|&e| e + 3 < s.len()).unwrap_or(s.len());
        let mut text: String = if start > 0 { "…".into() } else { String::new() };
        // A long differing middle keeps its two ends.
        let (from, to) = (prefix, s.len() - suffix);
        if to - from > 2 * LONG {
            text.extend(&s[start..from + LONG]);
            text.push('…');
            text.extend(&s[to - LONG..end]);
        } else {
            text.extend(&s[start..end]);
        }
        if end < s.len() {
            text.push('…');
        }
        Value::String(text).to_string()
    };
    (cut(&old), cut(&new))
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
    fn long_strings_show_where_they_differ() {
        let run = |n: &str| json!({ "run": format!("echo {n} and a long tail of words that never changes between the runs") });
        let c = changes(&run("1"), &run("22"));
        assert_eq!(c[0].arrow(), r#""echo 1 and a long tail…" -> "echo 22 and a long tail…""#);
        let c = changes(
            &json!({"s": format!("{}x{}", "a".repeat(40), "b".repeat(40))}),
            &json!({"s": format!("{}y{}", "a".repeat(40), "b".repeat(40))}),
        );
        let (a, b) = ("a".repeat(16), "b".repeat(16));
        assert_eq!(c[0].arrow(), format!(r#""…{a}x{b}…" -> "…{a}y{b}…""#));
        // A cut of three chars or fewer is not made; a long change keeps its ends.
        let c =
            changes(&json!({"s": format!("{}x12", "a".repeat(70))}), &json!({"s": format!("{}y12", "a".repeat(70))}));
        assert_eq!(c[0].arrow(), format!(r#""…{}x12" -> "…{}y12""#, "a".repeat(16), "a".repeat(16)));
        let c = changes(&json!({"s": "a".repeat(70)}), &json!({"s": format!("{}{}", "a".repeat(70), "b".repeat(500))}));
        let shown = c[0].arrow();
        assert!(shown.len() < 200 && shown.ends_with(&format!("{}…{}\"", "b".repeat(60), "b".repeat(60))), "{shown}");
        // Short strings, and strings against other values, are shown whole.
        assert_eq!(changes(&json!({"s": "ab"}), &json!({"s": "ac"}))[0].arrow(), r#""ab" -> "ac""#);
        let long = "z".repeat(70);
        assert_eq!(changes(&json!({"s": long}), &json!({"s": 1}))[0].arrow(), format!(r#""{long}" -> 1"#));
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
