//! A DVC stage's `params:` deps to the values that enter its key: `- train.seed`
//! names a key of `params.yaml` (in the stage's `wdir`), `- other.yaml: [a.b]`
//! keys of another file, `- other.yaml:` the whole file. Only the named values
//! count, so editing a key no stage names reruns nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use pipe_stages::shell::DvcParams;
use serde_json::{Map, Value};

use super::expand::read_values;
use super::stage::normal;
use crate::flatten::flatten;
use crate::suggest;

pub const DEFAULT_FILE: &str = "params.yaml";

/// Params files read so far, by path relative to the `dvc.yaml` directory.
pub struct ParamFiles {
    root: PathBuf,
    files: HashMap<String, Value>,
}

impl ParamFiles {
    pub fn new(root: &Path) -> ParamFiles {
        ParamFiles { root: root.to_path_buf(), files: HashMap::new() }
    }

    /// Takes `values` as the contents of file `rel` (params.yaml after `--set`).
    pub fn seed(&mut self, rel: &str, values: Value) {
        self.files.insert(rel.to_string(), values);
    }

    fn file(&mut self, rel: &str) -> Result<&Value, String> {
        if !self.files.contains_key(rel) {
            let values = read_values(&self.root.join(rel))?;
            self.files.insert(rel.to_string(), values);
        }
        Ok(&self.files[rel])
    }

    /// `{"train.seed": 1, "other.yaml:a.b": 2}`: keys of the default file bare, others after their file.
    pub fn resolve(&mut self, entries: &[Value], wdir: &str) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        for entry in entries {
            match entry {
                Value::String(key) => self.add(&mut out, wdir, DEFAULT_FILE, Some(key))?,
                Value::Object(files) => {
                    for (file, keys) in files {
                        match keys {
                            Value::Null => self.add(&mut out, wdir, file, None)?,
                            Value::Array(keys) if keys.is_empty() => self.add(&mut out, wdir, file, None)?,
                            Value::Array(keys) => {
                                for key in keys {
                                    let Value::String(key) = key else {
                                        return Err(format!("`{file}`: a params key is a string, got {key}"));
                                    };
                                    self.add(&mut out, wdir, file, Some(key))?;
                                }
                            }
                            other => return Err(format!("`{file}`: params keys are a list, got {other}")),
                        }
                    }
                }
                other => return Err(format!("a `params` entry is a key or `file: [keys]`, got {other}")),
            }
        }
        Ok(out)
    }

    fn add(&mut self, out: &mut Map<String, Value>, wdir: &str, file: &str, key: Option<&str>) -> Result<(), String> {
        let rel = normal(wdir, file)?;
        let label = |key: Option<&str>| match key {
            Some(key) if rel == DEFAULT_FILE => key.to_string(),
            Some(key) => format!("{rel}:{key}"),
            None => rel.clone(),
        };
        let values = self.file(&rel)?;
        let Some(key) = key else {
            out.insert(label(None), values.clone());
            return Ok(());
        };
        let found = key.split('.').try_fold(values, |v, part| v.get(part));
        let Some(value) = found else {
            let mut known: Vec<String> = flatten(values).into_keys().collect();
            // Whole sections are valid keys too (`- train`).
            known.extend(values.as_object().into_iter().flat_map(|m| m.keys().cloned()));
            let hint = suggest::hint(key, known.iter().map(String::as_str));
            return Err(format!("params key `{key}` is not in {rel}{hint}"));
        };
        out.insert(label(Some(key)), value.clone());
        Ok(())
    }

    /// The values the entries track, by params file as written (relative to `wdir`), grouped
    /// as DVC groups them (`dvc/dependency/__init__.py` `_merge_params`): a file listed whole
    /// anywhere is tracked whole. What `dvc.lock` records under `params`.
    pub fn by_file(&mut self, entries: &[Value], wdir: &str) -> Result<BTreeMap<String, DvcParams>, String> {
        let whole: Vec<&String> = entries
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|files| files.iter().filter(|(_, keys)| keys.as_array().is_none_or(Vec::is_empty)))
            .map(|(file, _)| file)
            .collect();
        let mut named: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for entry in entries {
            match entry {
                Value::String(key) => named.entry(DEFAULT_FILE.into()).or_default().push(key),
                Value::Object(files) => {
                    for (file, keys) in files {
                        let keys = keys.as_array().into_iter().flatten().filter_map(Value::as_str);
                        named.entry(file.clone()).or_default().extend(keys);
                    }
                }
                _ => {}
            }
        }
        let mut out = BTreeMap::new();
        for (file, keys) in named {
            let values = self.file(&normal(wdir, &file)?)?;
            let tracked = if whole.contains(&&file) {
                let Value::Object(all) = values else { return Err(format!("`{file}` holds no mapping of params")) };
                DvcParams::Whole(all.clone())
            } else {
                let found = |key: &str| key.split('.').try_fold(values, |v, part| v.get(part)).cloned();
                let keys = keys.into_iter().map(|key| Ok((key.to_string(), found(key).ok_or(key)?)));
                DvcParams::Keys(keys.collect::<Result<_, &str>>().map_err(|key| format!("no `{key}` in `{file}`"))?)
            };
            out.insert(file, tracked);
        }
        Ok(out)
    }
}

/// A params value as DVC compares it (Python's `==`): `1.0` equals `1`, so an integral float
/// enters the key as that integer, and rewriting `lr: 1` as `lr: 1.0` reruns nothing.
pub fn compared(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(compared).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, compared(v))).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_compare_as_integers_as_in_python() {
        let v = compared(json!({"lr": 1.0, "eps": 1e-8, "n": [2.0, 3], "big": 1e300, "on": true}));
        assert_eq!(v, json!({"lr": 1, "eps": 1e-8, "n": [2, 3], "big": 1e300, "on": true}));
    }
    use serde_json::json;

    #[test]
    fn named_keys_only_with_their_file_and_misses_suggest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("params.yaml"), "train:\n  seed: 7\n  lr: 0.1\nother: 1\n").unwrap();
        std::fs::write(dir.path().join("more.json"), r#"{"a": {"b": [1, 2]}}"#).unwrap();
        let mut files = ParamFiles::new(dir.path());
        let got = files
            .resolve(&[json!("train.seed"), json!({"more.json": ["a.b"]}), json!({"params.yaml": null})], "")
            .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"train.seed": 7, "more.json:a.b": [1, 2], "params.yaml": {"train": {"seed": 7, "lr": 0.1}, "other": 1}})
        );
        let err = files.resolve(&[json!("train.sed")], "").unwrap_err();
        assert_eq!(err, "params key `train.sed` is not in params.yaml (did you mean `train.seed`?)");
        assert!(files
            .resolve(&[json!({"p.py": ["a"]})], "")
            .unwrap_err()
            .contains(".py params files are not supported"));
        std::fs::write(dir.path().join("p.toml"), "[a]\nb = 2\n").unwrap();
        let got = files.resolve(&[json!({"p.toml": ["a.b"]})], "").unwrap();
        assert_eq!(Value::Object(got), json!({"p.toml:a.b": 2}));
    }
}
