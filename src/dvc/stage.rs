//! One resolved DVC stage definition, checked against DVC's stage schema
//! (`dvc/schema.py`: `cmd`, `wdir`, `deps`, `params`, `outs`, `metrics`, `plots`,
//! `frozen`, `always_changed`, `desc`, `meta`), with its paths made relative to
//! the `dvc.yaml` directory. What pipe does not do is named, not ignored.

use std::path::{Component, Path};

use serde_json::{Map, Value};

use crate::suggest;

const KEYS: &[&str] = &[
    "cmd",
    "wdir",
    "deps",
    "params",
    "outs",
    "metrics",
    "plots",
    "frozen",
    "always_changed",
    "desc",
    "meta",
    "vars",
    "foreach",
    "do",
    "matrix",
];

/// Flags an out may carry; DVC's `remote`, `push` and annotations do not change what runs.
const OUT_FLAGS: &[&str] = &["cache", "persist", "remote", "push", "desc", "type", "labels", "meta", "checkpoint"];
/// Plot display settings: DVC renders them, pipe keeps the files.
const PLOT_PROPS: &[&str] = &["template", "x", "y", "x_label", "y_label", "title", "header"];

#[derive(Debug)]
pub struct Stage {
    pub name: String,
    /// The commands as DVC runs them, one after another in `wdir` until one fails: a list's
    /// items, or a string's lines (`dvc/stage/run.py` splits it; blank lines do nothing).
    pub cmd: Vec<String>,
    /// `cmd` as dvc.yaml gives it, a string or a list: what `dvc.lock` records.
    pub cmd_written: Value,
    /// Relative to the `dvc.yaml` directory; empty for that directory itself.
    pub wdir: String,
    /// Paths relative to the `dvc.yaml` directory, as are the outs.
    pub deps: Vec<String>,
    /// The deps and outs as dvc.yaml writes them (relative to `wdir`), in the order of `deps`
    /// and `outs`: `dvc.lock`'s names for them.
    pub deps_written: Vec<String>,
    pub outs_written: Vec<String>,
    /// The raw `params:` entries.
    pub params: Vec<Value>,
    /// `outs`, `metrics` and `plots` files: everything the command writes.
    pub outs: Vec<String>,
    pub metrics: Vec<String>,
    pub persist: Vec<String>,
    pub frozen: bool,
    pub always_changed: bool,
    /// Set when a plot carries display settings (for a note).
    pub plot_props: bool,
}

/// Checks one definition. Errors are `(key, message)`, the key locating the line.
pub fn parse(name: String, def: &Map<String, Value>) -> Result<Stage, (String, String)> {
    let fail = |key: &str, message: String| (key.to_string(), message);
    for key in def.keys() {
        if !KEYS.contains(&key.as_str()) {
            return Err(fail(
                key,
                format!(
                    "unknown key `{key}`{}; valid keys: {}",
                    suggest::hint(key, KEYS.iter().copied()),
                    KEYS[..11].join(", ")
                ),
            ));
        }
    }
    let cmd = match def.get("cmd") {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            s.lines().filter(|line| !line.trim().is_empty()).map(str::to_string).collect()
        }
        Some(Value::Array(list)) if !list.is_empty() && list.iter().all(Value::is_string) => {
            list.iter().filter_map(Value::as_str).map(str::to_string).collect()
        }
        Some(other) => return Err(fail("cmd", format!("`cmd` is a command or a list of commands, got {other}"))),
        None => return Err(fail("", "a stage needs a `cmd`".into())),
    };
    let wdir = match def.get("wdir") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(w)) => normal("", w).map_err(|m| fail("wdir", m))?,
        Some(other) => return Err(fail("wdir", format!("`wdir` is a directory, got {other}"))),
    };
    let flag = |key: &str| match def.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(fail(key, format!("`{key}` is true or false, got {other}"))),
    };
    let list = |key: &str| match def.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(other) => Err(fail(key, format!("`{key}` is a list, got {other}"))),
    };
    let (mut deps, mut deps_written) = (Vec::new(), Vec::new());
    for dep in list("deps")? {
        let Value::String(dep) = dep else { return Err(fail("deps", format!("a dep is a path, got {dep}"))) };
        deps.push(inside(&wdir, &dep).map_err(|m| fail("deps", m))?);
        deps_written.push(dep);
    }
    let mut stage = Stage {
        name,
        cmd,
        cmd_written: def.get("cmd").cloned().unwrap_or_default(),
        wdir: wdir.clone(),
        deps,
        deps_written,
        outs_written: Vec::new(),
        params: list("params")?,
        outs: Vec::new(),
        metrics: Vec::new(),
        persist: Vec::new(),
        frozen: flag("frozen")?,
        always_changed: flag("always_changed")?,
        plot_props: false,
    };
    for key in ["outs", "metrics", "plots"] {
        for entry in list(key)? {
            let (path, flags) = match entry {
                Value::String(path) => (path, Map::new()),
                Value::Object(map) if map.len() == 1 => {
                    let (path, flags) = map.into_iter().next().unwrap_or_default();
                    match flags {
                        Value::Object(flags) => (path, flags),
                        Value::Null => (path, Map::new()),
                        // A plot may list several display settings.
                        Value::Array(_) if key == "plots" => {
                            (path, Map::from_iter([("template".to_string(), Value::Null)]))
                        }
                        other => return Err(fail(key, format!("`{path}`: flags are a mapping, got {other}"))),
                    }
                }
                other => {
                    return Err(fail(key, format!("an entry of `{key}` is a path or `path: {{flags}}`, got {other}")))
                }
            };
            stage.outs_written.push(path.clone());
            let path = inside(&wdir, &path).map_err(|m| fail(key, m))?;
            for (flag, value) in &flags {
                let plot = key == "plots" && PLOT_PROPS.contains(&flag.as_str());
                stage.plot_props |= plot;
                if flag == "checkpoint" && value == &Value::Bool(true) {
                    return Err(fail(
                        key,
                        format!("`{path}`: `checkpoint` outs are not supported (DVC 3 removed them too)"),
                    ));
                }
                if !plot && !OUT_FLAGS.contains(&flag.as_str()) {
                    let known = OUT_FLAGS.iter().chain(if key == "plots" { PLOT_PROPS } else { &[] });
                    return Err(fail(
                        key,
                        format!("`{path}`: unknown flag `{flag}`{}", suggest::hint(flag, known.copied())),
                    ));
                }
            }
            if flags.get("persist") == Some(&Value::Bool(true)) {
                stage.persist.push(path.clone());
            }
            if key == "metrics" {
                stage.metrics.push(path.clone());
            }
            stage.outs.push(path);
        }
    }
    Ok(stage)
}

/// `path` (relative to `wdir`) relative to the `dvc.yaml` directory, `/`-separated,
/// without `.` or a trailing `/`. Paths outside that directory and URLs are errors:
/// pipe hashes and writes only files of the pipeline's own directory.
pub fn normal(wdir: &str, path: &str) -> Result<String, String> {
    if path.contains("://") || path.starts_with("remote:") {
        return Err(format!("`{path}`: remote deps and outs are not supported; pipe reads and writes local files (fetch it with `dvc import-url` and depend on the file)"));
    }
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(wdir).join(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir if parts.pop().is_some() => {}
            _ => {
                return Err(format!(
                    "`{path}` lies outside the directory of dvc.yaml; pipe reads and writes only inside it"
                ))
            }
        }
    }
    Ok(parts.join("/"))
}

/// A dep or out: [`normal`], and not the `dvc.yaml` directory itself, which holds pipe's
/// lock file and cache.
fn inside(wdir: &str, path: &str) -> Result<String, String> {
    let rel = normal(wdir, path)?;
    if rel.is_empty() {
        let within = if wdir.is_empty() { String::new() } else { format!(" (in wdir `{wdir}`)") };
        return Err(format!(
            "`{path}`{within} is the directory of dvc.yaml itself, which holds pipe's lock file and cache: \
             name the files or directories in it"
        ));
    }
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage(def: Value) -> Result<Stage, (String, String)> {
        parse("s".into(), def.as_object().unwrap())
    }

    #[test]
    fn paths_follow_wdir_and_outs_gather_metrics_and_plots() {
        let s = stage(json!({"cmd": ["a", "b"], "wdir": "src", "deps": ["../data/x", "./f.py"],
            "outs": [{"model": {"persist": true}}], "metrics": [{"m.json": {"cache": false}}], "plots": [{"p.csv": {"x": "step"}}]}))
        .unwrap();
        assert_eq!(s.cmd, ["a", "b"]);
        assert_eq!(stage(json!({"cmd": "x=1\n\n  echo $x  \r\n"})).unwrap().cmd, ["x=1", "  echo $x  "]);
        assert_eq!(s.deps, ["data/x", "src/f.py"]);
        assert_eq!(
            (s.deps_written, s.outs_written),
            (vec!["../data/x".into(), "./f.py".into()], vec!["model".into(), "m.json".into(), "p.csv".into()])
        );
        assert_eq!(s.cmd_written, json!(["a", "b"]));
        assert_eq!(s.outs, ["src/model", "src/m.json", "src/p.csv"]);
        assert_eq!(
            (s.metrics, s.persist, s.plot_props),
            (vec!["src/m.json".to_string()], vec!["src/model".to_string()], true)
        );
    }

    #[test]
    fn unknown_keys_flags_and_escaping_paths_are_named() {
        assert_eq!(
            stage(json!({"cmd": "x", "dep": ["a"]})).unwrap_err().1.split(';').next().unwrap(),
            "unknown key `dep` (did you mean `deps`?)"
        );
        assert!(stage(json!({"cmd": "x", "outs": [{"o": {"cach": false}}]}))
            .unwrap_err()
            .1
            .contains("(did you mean `cache`?)"));
        assert!(stage(json!({"cmd": "x", "deps": ["../up"]})).unwrap_err().1.contains("outside the directory"));
        assert_eq!(
            stage(json!({"cmd": "x", "wdir": "sub", "outs": [".."]})).unwrap_err().1,
            "`..` (in wdir `sub`) is the directory of dvc.yaml itself, which holds pipe's lock file and cache: \
             name the files or directories in it"
        );
        assert!(stage(json!({"cmd": "x", "deps": ["."]}))
            .unwrap_err()
            .1
            .starts_with("`.` is the directory of dvc.yaml"));
        assert!(stage(json!({"cmd": "x", "deps": ["s3://b/k"]}))
            .unwrap_err()
            .1
            .contains("remote deps and outs are not supported"));
        assert_eq!(stage(json!({"deps": []})).unwrap_err().1, "a stage needs a `cmd`");
    }
}
