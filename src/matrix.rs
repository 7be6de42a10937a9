//! Matrix expansion: a map of lists (cartesian product) or a list of maps,
//! minus `exclude:` entries; and the instance names built from the values.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::interpolate::render;

/// One instance's matrix values, by key (sorted, so names are canonical).
pub type Combo = BTreeMap<String, Value>;

/// The combinations of a stage's `matrix:` (one empty combination when there is none).
pub fn expand(matrix: Option<&Value>, exclude: &[Map<String, Value>]) -> Result<Vec<Combo>, String> {
    let combos = match matrix {
        None => {
            if !exclude.is_empty() {
                return Err("`exclude:` needs a `matrix:`".into());
            }
            return Ok(vec![Combo::new()]);
        }
        Some(Value::Object(axes)) => cartesian(axes)?,
        Some(Value::Array(rows)) => rows
            .iter()
            .map(|row| match row {
                Value::Object(m) if !m.is_empty() => Ok(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                _ => Err(format!("a matrix given as a list needs non-empty mappings, got {row}")),
            })
            .collect::<Result<Vec<Combo>, String>>()?,
        Some(other) => return Err(format!("`matrix:` must be a map of lists or a list of maps, got {other}")),
    };
    let keys: Vec<&String> = combos.iter().flat_map(|c| c.keys()).collect();
    for rule in exclude {
        if let Some(k) = rule.keys().find(|k| !keys.contains(k)) {
            return Err(format!("`exclude:` names `{k}`, which is not a matrix key"));
        }
    }
    let hits = |rule: &Map<String, Value>, c: &Combo| rule.iter().all(|(k, v)| c.get(k) == Some(v));
    // A rule that removes nothing is a typo, or a value of another type (`"1"` for 1).
    if let Some(rule) = exclude.iter().find(|rule| !combos.iter().any(|c| hits(rule, c))) {
        return Err(format!("`exclude:` entry {} matches no matrix combination", Value::Object(rule.clone())));
    }
    let kept: Vec<Combo> = combos.into_iter().filter(|c| !exclude.iter().any(|rule| hits(rule, c))).collect();
    if kept.is_empty() {
        return Err("`exclude:` removes every matrix combination".into());
    }
    Ok(kept)
}

fn cartesian(axes: &Map<String, Value>) -> Result<Vec<Combo>, String> {
    let mut combos = vec![Combo::new()];
    for (key, values) in axes {
        let values = match values {
            Value::Array(v) if !v.is_empty() => v,
            _ => return Err(format!("matrix key `{key}` needs a non-empty list of values")),
        };
        combos = combos
            .iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(key.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    Ok(combos)
}

/// Merges two combinations if they agree on every shared key.
pub fn merge(a: &Combo, b: &Combo) -> Option<Combo> {
    let mut merged = a.clone();
    for (k, v) in b {
        if let Some(old) = merged.insert(k.clone(), v.clone()) {
            if old != *v {
                return None;
            }
        }
    }
    Some(merged)
}

/// The matrix key that sets an instance's seed (own or inherited) instead of entering its params:
/// `matrix: {seed: [1, 2, 3]}` runs a stage, and the stages fanning out with it, under three seeds.
pub const SEED: &str = pipe_stages::SEED_AXIS;

/// The seed a combination sets, if it has a `seed` value; it must be a non-negative integer.
pub fn seed(combo: &Combo) -> Result<Option<u64>, String> {
    combo
        .get(SEED)
        .map(|v| v.as_u64().ok_or_else(|| format!("matrix `{SEED}` values must be non-negative integers, got {v}")))
        .transpose()
}

/// `train[dropout=0.1,pooling=mean]`, or the bare stage name without a matrix.
pub fn instance_name(stage: &str, combo: &Combo) -> String {
    if combo.is_empty() {
        return stage.to_string();
    }
    let values: Vec<String> = combo.iter().map(|(k, v)| format!("{k}={}", render(v))).collect();
    format!("{stage}[{}]", values.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cartesian_with_exclude_and_names() {
        let m = json!({"pooling": ["cls", "mean"], "dropout": [0.1, 0.0]});
        let ex = vec![json!({"pooling": "mean", "dropout": 0.0}).as_object().unwrap().clone()];
        let combos = expand(Some(&m), &ex).unwrap();
        let names: Vec<String> = combos.iter().map(|c| instance_name("train", c)).collect();
        assert_eq!(
            names,
            ["train[dropout=0.1,pooling=cls]", "train[dropout=0.0,pooling=cls]", "train[dropout=0.1,pooling=mean]"]
        );
        let list = json!([{"a": 1}, {"a": 2, "b": "x"}]);
        assert_eq!(expand(Some(&list), &[]).unwrap().len(), 2);
        assert!(expand(Some(&json!({"a": []})), &[]).is_err());
        let typo = vec![json!({"pooling": "max"}).as_object().unwrap().clone()];
        assert_eq!(
            expand(Some(&m), &typo).unwrap_err(),
            r#"`exclude:` entry {"pooling":"max"} matches no matrix combination"#
        );
        let string = vec![json!({"dropout": "0.1"}).as_object().unwrap().clone()];
        assert!(expand(Some(&m), &string).unwrap_err().contains("matches no matrix combination"));
    }
}
