//! `--set stage.key=value` and `--set params.key=value`: change values without
//! editing the file. The value is read as a YAML scalar (`3e-5`, `true`, `mean`).

use serde_json::{Map, Value};

use crate::spec::Pipeline;
use crate::{suggest, Error};

/// One parsed `--set`.
#[derive(Debug, Clone)]
pub struct Override {
    /// `params` or a stage name.
    pub target: String,
    /// Key path below the target (`lr`, or `optim.lr` for nested maps).
    pub path: Vec<String>,
    pub value: Value,
}

pub fn parse(text: &str) -> Result<Override, Error> {
    let bad =
        |why: &str| Error::Config(format!("--set {text}: {why} (expected `stage.key=value` or `params.key=value`)"));
    let (lhs, rhs) = text.split_once('=').ok_or_else(|| bad("no `=`"))?;
    let mut parts = lhs.split('.').map(str::to_string);
    let target = parts.next().filter(|t| !t.is_empty()).ok_or_else(|| bad("no stage name"))?;
    let path: Vec<String> = parts.collect();
    if path.is_empty() || path.iter().any(String::is_empty) {
        return Err(bad("no key after the stage name"));
    }
    let value: Value = serde_yaml_ng::from_str(rhs).map_err(|e| bad(&format!("value is not valid YAML: {e}")))?;
    Ok(Override { target, path, value })
}

/// Applies overrides to the parsed pipeline; params must exist (a typo would otherwise be silent).
pub fn apply(pipeline: &mut Pipeline, overrides: &[Override]) -> Result<(), Error> {
    for o in overrides {
        let shown = format!("--set {}.{}", o.target, o.path.join("."));
        if o.target == "params" {
            if !pipeline.params.contains_key(&o.path[0]) {
                return Err(Error::Config(format!(
                    "{shown}: the pipeline has no param `{}`{}",
                    o.path[0],
                    suggest::hint(&o.path[0], pipeline.params.keys().map(String::as_str))
                )));
            }
            set(&mut pipeline.params, &o.path, o.value.clone());
        } else {
            let hint = suggest::hint(&o.target, pipeline.stage_names());
            let stage = pipeline
                .stage_mut(&o.target)
                .ok_or_else(|| Error::Config(format!("{shown}: no stage `{}`{hint}", o.target)))?;
            set(&mut stage.with, &o.path, o.value.clone());
        }
    }
    Ok(())
}

fn set(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let (last, parents) = path.split_last().expect("parse guarantees a non-empty path");
    let mut map = map;
    for key in parents {
        let slot = map.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        map = slot.as_object_mut().expect("made an object above");
    }
    map.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_yaml_scalars() {
        let o = parse("train.lr=3e-5").unwrap();
        assert_eq!(
            (o.target.as_str(), o.path.as_slice(), o.value.as_f64()),
            ("train", &["lr".to_string()][..], Some(3e-5))
        );
        assert_eq!(parse("params.model=mean").unwrap().value, Value::from("mean"));
        assert!(parse("train=3").is_err());
    }
}
