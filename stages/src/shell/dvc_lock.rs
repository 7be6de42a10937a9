//! A dvc.yaml stage that `dvc repro` would skip, read from its `dvc.lock` entry as DVC reads
//! it (`dvc/stage/loader.py` `fill_from_lock`, `dvc/stage/__init__.py` `changed`): the same
//! `cmd`; each dep, found by its path as dvc.yaml writes it, with the md5 it has now; each
//! params file's named values (or whole contents) equal, as Python's `==` compares; each out
//! in the workspace with its md5. Its outs are then what its command makes, and pipe adopts
//! them. Only DVC 3 entries (`hash: md5`) are read: DVC 2's hash of text with CRLF turned
//! to LF is not computed here, so such an entry is not adopted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::dvc_md5;
use super::dvcignore::DvcIgnore;
use crate::values;
use crate::workspace::{self, Last};

/// The lock file beside a `dvc.yaml`.
pub const FILE: &str = "dvc.lock";

/// A dvc.yaml stage as its `dvc.lock` entry must name it; the engine's DVC front end fills it.
#[derive(Debug, Clone, PartialEq)]
pub struct DvcStage {
    /// The entry's name: `train`, `train@0`.
    pub name: String,
    /// `cmd` as dvc.yaml gives it once interpolated: a string or a list.
    pub cmd: Value,
    pub deps: Vec<DvcPath>,
    /// By params file, as dvc.yaml names it (relative to `wdir`).
    pub params: BTreeMap<String, DvcParams>,
    /// `outs`, `metrics` and `plots`.
    pub outs: Vec<DvcPath>,
}

/// A dep or out.
#[derive(Debug, Clone, PartialEq)]
pub struct DvcPath {
    /// As dvc.yaml writes it, relative to `wdir`: its `path` in dvc.lock.
    pub written: String,
    /// Relative to the dvc.yaml directory: where it is.
    pub path: String,
}

/// The current values of a params file's tracked keys.
#[derive(Debug, Clone, PartialEq)]
pub enum DvcParams {
    /// `- train.lr`: each named key (dotted) and its value.
    Keys(Map<String, Value>),
    /// `- file.yaml:`: the whole file, by top-level key.
    Whole(Map<String, Value>),
}

/// A `dvc.lock` pipe cannot read; the stage is then computed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}: {message}", file.display())]
    Yaml { file: PathBuf, message: String },
    #[error("{}: `{key}` {problem}", file.display())]
    Shape { file: PathBuf, key: String, problem: &'static str },
}

/// How a stage stands against its `dvc.lock` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `dvc repro` would skip it.
    Unchanged,
    /// All is as recorded but the contents of these deps (where they are, relative to the
    /// dvc.yaml directory): an upstream that runs first may bring them back.
    DepsDiffer(Vec<String>),
    /// No lock, no entry, a DVC 2 entry, another cmd or params, an out not as recorded, or a
    /// path that cannot be hashed or is not recorded.
    Changed,
}

/// How `dvc repro` would find `stage` by the `dvc.lock` in `workdir` (the dvc.yaml
/// directory). `ignore`: the repository's `.dvcignore` rules, which DVC's directory hashes
/// follow.
pub fn verdict(stage: &DvcStage, workdir: &Path, mut ignore: Option<DvcIgnore>) -> Result<Verdict, LockError> {
    let Some(top) = read(workdir)? else { return Ok(Verdict::Changed) };
    let shape = |(key, problem)| LockError::Shape { file: workdir.join(FILE), key, problem };
    let Some(entry) = Entry::of(&top, &stage.name).map_err(shape)? else { return Ok(Verdict::Changed) };
    if entry.cmd != Some(&stage.cmd) || !params_equal(&stage.params, entry.params) {
        return Ok(Verdict::Changed);
    }
    let mut differ = Vec::new();
    for (recorded, listed, deps) in [(&entry.deps, &stage.deps, true), (&entry.outs, &stage.outs, false)] {
        for item in listed {
            // None: DVC 2's md5 (no `hash: md5`), not the one computed here, or no md5.
            let Some(Some(md5)) = recorded.get(item.written.as_str()) else { return Ok(Verdict::Changed) };
            let Ok(path) = workspace::resolve(workdir, &item.path, Last::Follow) else { return Ok(Verdict::Changed) };
            if dvc_md5::of(&path, ignore.as_mut()).ok().as_deref() != Some(*md5) {
                if !deps {
                    return Ok(Verdict::Changed);
                }
                differ.push(item.path.clone());
            }
        }
    }
    Ok(if differ.is_empty() { Verdict::Unchanged } else { Verdict::DepsDiffer(differ) })
}

/// Whether the `dvc.lock` in `workdir`, if there is one, can be read as a whole, so that the
/// engine names a file that cannot once, rather than each of its stages.
pub fn readable(workdir: &Path) -> Result<(), LockError> {
    let Some(top) = read(workdir)? else { return Ok(()) };
    let file = workdir.join(FILE);
    // What DVC 3's lock file schema requires before it reads an entry (`dvc/schema.py`).
    let Value::Object(top) = top else {
        return Err(LockError::Yaml {
            file,
            message: "not a mapping of `schema` and `stages`, as DVC requires".into(),
        });
    };
    let schema = match top.get("schema") {
        None => Some("is missing (DVC 3 requires it)"),
        Some(v) if v != "2.0" => Some("is not '2.0', the only one DVC 3 reads"),
        Some(_) => None,
    };
    if let Some(problem) = schema {
        return Err(LockError::Shape { file, key: "schema".into(), problem });
    }
    match top.get("stages") {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(LockError::Shape { file, key: "stages".into(), problem: "is not a mapping" }),
    }
}

/// The `dvc.lock` in `workdir`, parsed; None when there is none.
fn read(workdir: &Path) -> Result<Option<Value>, LockError> {
    let file = workdir.join(FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LockError::Read { file, source }),
    };
    values::from_yaml(&text).map(Some).map_err(|e| LockError::Yaml { file, message: e.to_string() })
}

/// One stage's entry in `dvc.lock` (`schema: '2.0'`, DVC's `to_single_stage_lockfile`).
struct Entry<'a> {
    cmd: Option<&'a Value>,
    /// By path: the md5 of a DVC 3 entry (`hash: md5`), else None.
    deps: BTreeMap<&'a str, Option<&'a str>>,
    params: Option<&'a Map<String, Value>>,
    outs: BTreeMap<&'a str, Option<&'a str>>,
}

/// Where an entry is malformed: the key and what is wrong there.
type Malformed = (String, &'static str);

impl<'a> Entry<'a> {
    /// The entry of stage `name`, if the lock has one.
    fn of(top: &'a Value, name: &str) -> Result<Option<Entry<'a>>, Malformed> {
        let Some(stages) = top.get("stages") else { return Ok(None) };
        let Value::Object(stages) = stages else { return Err(("stages".into(), "is not a mapping")) };
        let Some(entry) = stages.get(name) else { return Ok(None) };
        let at = format!("stages.{name}");
        let Value::Object(entry) = entry else { return Err((at, "is not a mapping")) };
        let params = match entry.get("params") {
            None => None,
            Some(Value::Object(files)) => {
                if let Some((file, _)) = files.iter().find(|(_, values)| !values.is_object()) {
                    return Err((format!("{at}.params.{file}"), "is not a mapping of params to values"));
                }
                Some(files)
            }
            Some(_) => return Err((format!("{at}.params"), "is not a mapping of params files")),
        };
        Ok(Some(Entry {
            cmd: entry.get("cmd"),
            deps: md5s(entry.get("deps"), &format!("{at}.deps"))?,
            params,
            outs: md5s(entry.get("outs"), &format!("{at}.outs"))?,
        }))
    }
}

/// An entry's `deps` or `outs` (at key `at`), by path.
fn md5s<'a>(list: Option<&'a Value>, at: &str) -> Result<BTreeMap<&'a str, Option<&'a str>>, Malformed> {
    let items = match list {
        None => return Ok(BTreeMap::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err((at.to_string(), "is not a list")),
    };
    let mut by_path = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let Some(path) = item.get("path").and_then(Value::as_str) else {
            return Err((format!("{at}[{i}]"), "is not a mapping with a `path`"));
        };
        let md5 = match (item.get("hash").and_then(Value::as_str), item.get("md5")) {
            (_, Some(md5)) if !md5.is_string() => return Err((format!("{at}[{i}].md5"), "is not a string")),
            (Some("md5"), md5) => md5.and_then(Value::as_str),
            _ => None,
        };
        by_path.insert(path, md5);
    }
    Ok(by_path)
}

/// Whether each params file's tracked values equal the lock's (`ParamsDependency.workspace_status`):
/// every named key present with an equal value, or for a whole file the same keys and values.
fn params_equal(tracked: &BTreeMap<String, DvcParams>, locked: Option<&Map<String, Value>>) -> bool {
    tracked.iter().all(|(file, params)| {
        let Some(Value::Object(locked)) = locked.and_then(|files| files.get(file)) else { return false };
        match params {
            DvcParams::Keys(keys) => {
                keys.iter().all(|(key, value)| locked.get(key).is_some_and(|l| python_eq(l, value)))
            }
            DvcParams::Whole(all) => {
                all.len() == locked.len()
                    && all.iter().all(|(key, value)| locked.get(key).is_some_and(|l| python_eq(l, value)))
            }
        }
    })
}

/// Python's `==` on values read from YAML: `1 == 1.0` and `True == 1`; lists and mappings
/// item by item.
fn python_eq(a: &Value, b: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::Bool(b) => Some(Number::Int(i128::from(*b))),
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Number::Int(i.into()),
            (_, Some(u)) => Number::Int(u.into()),
            _ => Number::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        _ => None,
    };
    match (a, b) {
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| python_eq(a, b)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(key, a)| b.get(key).is_some_and(|b| python_eq(a, b)))
        }
        _ => match (number(a), number(b)) {
            (Some(Number::Int(a)), Some(Number::Int(b))) => a == b,
            (Some(Number::Float(x)), Some(Number::Float(y))) => x == y,
            (Some(Number::Int(i)), Some(Number::Float(f))) | (Some(Number::Float(f)), Some(Number::Int(i))) => {
                int_equals_float(i, f)
            }
            _ => a == b,
        },
    }
}

enum Number {
    Int(i128),
    Float(f64),
}

/// Python compares an int with a float exactly: 2^53 + 1 is not 2^53 as a float, which it
/// would be once the int were rounded to a float.
fn int_equals_float(i: i128, f: f64) -> bool {
    // Every i128 lies below 2^127 in magnitude; a float there converts exactly.
    f.fract() == 0.0 && f.abs() < 2f64.powi(127) && f as i128 == i
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_compare_as_python_compares_them() {
        assert!(
            python_eq(&json!(1), &json!(1.0))
                && python_eq(&json!(true), &json!(1))
                && python_eq(&json!(false), &json!(0.0))
        );
        assert!(python_eq(&json!({"a": [1, 2.0], "b": null}), &json!({"b": null, "a": [1.0, 2]})));
        assert!(!python_eq(&json!(1), &json!("1")) && !python_eq(&json!(0.1), &json!(0.2)));
        assert!(!python_eq(&json!([1]), &json!([1, 2])) && !python_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        // Exact, as in Python: past 2^53 a float is not every integer.
        assert!(!python_eq(&json!(9007199254740993u64), &json!(9007199254740992.0)));
        assert!(python_eq(&json!(9007199254740992u64), &json!(9007199254740992.0)));
        assert!(!python_eq(&json!(u64::MAX), &json!(18446744073709551616.0)));
        assert!(!python_eq(&json!(1), &json!(f64::NAN)) && !python_eq(&json!(1), &json!(1.5)));
    }
}
