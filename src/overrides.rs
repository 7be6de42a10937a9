//! `--set stage.key=value` and `--set params.key=value`: change values without
//! editing the file. The value is read as a YAML scalar (`3e-5`, `true`, `mean`).

use std::collections::BTreeSet;

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
    // The parser's message says what is wrong (a NaN, or where the YAML breaks).
    let value: Value = pipe_stages::values::from_yaml(rhs).map_err(|e| bad(&e.message))?;
    // An integer past 64 bits comes back as a float: it would change without a word (the
    // pipeline file refuses it).
    let digits = rhs.trim().trim_start_matches(['+', '-']);
    if value.is_f64() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return Err(bad("an integer beyond 64 bits; quote it for a string"));
    }
    Ok(Override { target, path, value })
}

/// Applies overrides to the parsed pipeline; params must exist (a typo would otherwise be silent).
pub fn apply(pipeline: &mut Pipeline, overrides: &[Override]) -> Result<(), Error> {
    for o in overrides {
        let shown = o.shown();
        if o.is_param() {
            set_param(&mut pipeline.params, o, "the pipeline has")?;
        } else {
            let hint = suggest::hint(&o.target, pipeline.stage_names());
            let stage = pipeline
                .stage_mut(&o.target)
                .ok_or_else(|| Error::Config(format!("{shown}: no stage `{}`{hint}", o.target)))?;
            // Instances are named after their matrix values: a value that no longer follows
            // an axis it followed would mislabel them.
            let old = lookup(&stage.with, &o.path).map(axes).unwrap_or_default();
            if let Some(axis) = old.difference(&axes(&o.value)).next() {
                return Err(Error::Config(format!(
                    "{shown}: the value follows the matrix axis `{axis}`, one per instance (`{}[…]`): \
                     a new value must name `${{matrix.{axis}}}` too, or change the axis under `matrix:` \
                     in the file",
                    o.target
                )));
            }
            set(&mut stage.with, &o.path, o.value.clone());
            pipeline.set.push((o.target.clone(), o.path[0].clone()));
        }
    }
    Ok(())
}

/// The value at `path` in `map`, if there is one.
fn lookup<'a>(map: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = map.get(first)?;
    match rest {
        [] => Some(value),
        _ => lookup(value.as_object()?, rest),
    }
}

/// The matrix axes the strings in `value` name (`${matrix.x}`).
fn axes(value: &Value) -> BTreeSet<&str> {
    match value {
        Value::String(s) => s.split("${matrix.").skip(1).filter_map(|rest| Some(&rest[..rest.find('}')?])).collect(),
        Value::Array(items) => items.iter().flat_map(axes).collect(),
        Value::Object(map) => map.values().flat_map(axes).collect(),
        _ => BTreeSet::new(),
    }
}

impl Override {
    /// `--set params.a.b`, for messages.
    pub fn shown(&self) -> String {
        format!("--set {}.{}", self.target, self.path.join("."))
    }

    pub fn is_param(&self) -> bool {
        self.target == "params"
    }
}

/// Sets param override `o` in `params`, whose owner `has` names in errors. Params are
/// declared in a file: a path that names none is a typo, not a new value.
pub fn set_param(params: &mut Map<String, Value>, o: &Override, has: &str) -> Result<(), Error> {
    let shown = o.shown();
    let mut level = &*params;
    for (depth, key) in o.path.iter().enumerate() {
        let at = o.path[..=depth].join(".");
        let Some(value) = level.get(key) else {
            let hint = suggest::hint(key, level.keys().map(String::as_str));
            return Err(Error::Config(format!("{shown}: {has} no param `{at}`{hint}")));
        };
        match value {
            Value::Object(inner) => level = inner,
            _ if depth + 1 < o.path.len() => {
                return Err(Error::Config(format!("{shown}: param `{at}` is {value}, not a mapping")));
            }
            _ => {}
        }
    }
    set(params, &o.path, o.value.clone());
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
        assert_eq!(parse("params.x=18446744073709551615").unwrap().value, Value::from(u64::MAX));
        let big = parse(&format!("params.x=1{}", "0".repeat(40))).unwrap_err().to_string();
        assert!(big.contains("an integer beyond 64 bits"), "{big}");
        assert_eq!(parse("params.x='18446744073709551616'").unwrap().value, Value::from("18446744073709551616"));
        let nan = parse("params.x=.nan").err().unwrap().to_string();
        assert!(nan.starts_with("--set params.x=.nan: `.nan`, `.inf` and `-.inf` cannot be values here"), "{nan}");
    }

    #[test]
    fn a_param_path_must_name_a_declared_param() {
        let yaml = "name: x\nparams: {n: 1, opt: {lr: 0.1}}\nstages:\n  a: {uses: shell, run: 'true'}\n";
        let mut p = crate::spec::parse(std::path::Path::new("p.yaml"), yaml.into()).unwrap();
        let err = |set: &str, p: &mut Pipeline| apply(p, &[parse(set).unwrap()]).unwrap_err().to_string();
        assert_eq!(err("params.n.typo=5", &mut p), "--set params.n.typo: param `n` is 1, not a mapping");
        assert_eq!(
            err("params.opt.lrr=5", &mut p),
            "--set params.opt.lrr: the pipeline has no param `opt.lrr` (did you mean `lr`?)"
        );
        apply(&mut p, &[parse("params.opt.lr=0.2").unwrap()]).unwrap();
        assert_eq!(p.params["opt"]["lr"], 0.2);
    }

    #[test]
    fn a_value_each_matrix_instance_takes_from_its_axis_cannot_be_set() {
        let yaml = "name: x
stages:
  t:
    uses: shell
    matrix: {p: [cls, mean]}
    \
                    with: {run: 'echo ${matrix.p}', opt: {pool: '${matrix.p}', lr: 1}}
";
        let mut p = crate::spec::parse(std::path::Path::new("p.yaml"), yaml.into()).unwrap();
        for set in ["t.opt.pool=mean", "t.opt={lr: 2}", "t.run=true"] {
            let err = apply(&mut p, &[parse(set).unwrap()]).unwrap_err().to_string();
            assert!(err.contains("follows the matrix axis `p`, one per instance (`t[…]`)"), "{set}: {err}");
        }
        apply(&mut p, &[parse("t.opt.lr=2").unwrap()]).unwrap();
        // A new value that follows the axis too is fine.
        apply(&mut p, &[parse("t.run=echo ${matrix.p} twice").unwrap()]).unwrap();
        apply(&mut p, &[parse("t.opt={lr: 3, pool: 'pool ${matrix.p}'}").unwrap()]).unwrap();
    }
}
