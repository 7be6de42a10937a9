//! One `stages:` entry of a `dvc.yaml` into the stages it generates: itself, or
//! one per `foreach` item (`build@us`, `train@0`) or `matrix` combination
//! (`train@lr-0.1-small`), named as DVC names them, with `${...}` resolved in
//! the scope of `vars:`, `params.yaml` and the iteration's `item` and `key`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pipe_stages::values;
use serde_json::{Map, Value};

use super::repo::Unpack;
use super::template::{self, text};
use crate::Error;

/// A stage definition with every reference resolved.
pub struct Generated {
    /// `train@lr-0.1`, or the entry's own name.
    pub name: String,
    pub def: Map<String, Value>,
    /// The references its definition used (`train.lr`), which DVC tracks as params.
    pub used: Vec<String>,
}

/// Where a message about key `key` of the entry points (`file:line: stage `x`: `).
pub type At<'a> = &'a dyn Fn(Option<&str>) -> String;

pub fn expand(group: &str, entry: &Value, vars: &Vars, root: &Path, at: At) -> Result<Vec<Generated>, Error> {
    let err = |key: &str, message: String| Error::Config(format!("{}{message}", at(Some(key))));
    let Value::Object(entry) = entry else {
        return Err(Error::Config(format!("{}a stage is a mapping of keys (`cmd`, `deps`, `outs`, ...)", at(None))));
    };
    if let Some(foreach) = entry.get("foreach") {
        if let Some(extra) = entry.keys().find(|k| !["foreach", "do"].contains(&k.as_str())) {
            return Err(err(extra, format!("with `foreach`, `{extra}` goes under `do:`")));
        }
        let Some(Value::Object(template)) = entry.get("do") else {
            return Err(err("foreach", "`foreach` needs a `do:` mapping with the stage to generate".into()));
        };
        if let Some(nested) = ["foreach", "matrix"].into_iter().find(|k| template.contains_key(*k)) {
            return Err(err(
                nested,
                format!("`{nested}` inside `foreach`'s `do:` is not supported (DVC does not nest them either)"),
            ));
        }
        let items = template::resolve(foreach, &vars.values, None, &mut Vec::new()).map_err(|m| err("foreach", m))?;
        let mut out = Vec::new();
        let is_map = items.is_object();
        for (key, item) in iteration(&items).map_err(|m| err("foreach", m))? {
            let mut local = vars.clone();
            local.values.insert("item".into(), item);
            if is_map {
                local.values.insert("key".into(), Value::String(key.clone()));
            }
            out.push(generate(format!("{group}@{key}"), template, local, root, at)?);
        }
        return Ok(out);
    }
    if entry.contains_key("do") {
        return Err(err("do", "`do:` belongs to a `foreach:` stage".into()));
    }
    let Some(matrix) = entry.get("matrix") else {
        return Ok(vec![generate(group.to_string(), entry, vars.clone(), root, at)?]);
    };
    let Value::Object(axes) =
        template::resolve(matrix, &vars.values, None, &mut Vec::new()).map_err(|m| err("matrix", m))?
    else {
        return Err(err("matrix", "`matrix` is a mapping from names to lists of values".into()));
    };
    let mut combos: Vec<(Vec<String>, Map<String, Value>)> = vec![(Vec::new(), Map::new())];
    for (axis, values) in &axes {
        let Value::Array(values) = values else {
            return Err(err("matrix", format!("matrix `{axis}` must be a list of values, got {values}")));
        };
        let mut next = Vec::new();
        for (fragments, combo) in &combos {
            for (i, v) in values.iter().enumerate() {
                // DVC names a composite value by its axis and position.
                let fragment = if v.is_object() || v.is_array() {
                    format!("{axis}{i}")
                } else {
                    text(v).map_err(|m| err("matrix", m))?
                };
                let mut combo = combo.clone();
                combo.insert(axis.clone(), v.clone());
                next.push((fragments.iter().cloned().chain([fragment]).collect(), combo));
            }
        }
        combos = next;
    }
    let mut template = entry.clone();
    template.remove("matrix");
    let mut out = Vec::new();
    for (fragments, combo) in combos {
        let key = fragments.join("-");
        let mut local = vars.clone();
        local.values.insert("item".into(), Value::Object(combo));
        local.values.insert("key".into(), Value::String(key.clone()));
        out.push(generate(format!("{group}@{key}"), &template, local, root, at)?);
    }
    Ok(out)
}

/// `foreach` data as (key, item): a mapping by its keys, a list of scalars by the
/// values themselves, a list holding composite values by position.
fn iteration(items: &Value) -> Result<Vec<(String, Value)>, String> {
    match items {
        Value::Object(map) => Ok(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Value::Array(list) if list.iter().any(|v| v.is_object() || v.is_array()) => {
            Ok(list.iter().enumerate().map(|(i, v)| (i.to_string(), v.clone())).collect())
        }
        Value::Array(list) => list.iter().map(|v| Ok((text(v)?, v.clone()))).collect(),
        other => Err(format!("`foreach` needs a list or a mapping, got {other}")),
    }
}

/// Resolves one stage definition; its own `vars:` join the scope first.
fn generate(name: String, def: &Map<String, Value>, mut scope: Vars, root: &Path, at: At) -> Result<Generated, Error> {
    let mut def = def.clone();
    if let Some(own) = def.remove("vars") {
        let fail = |m: String| Error::Config(format!("{}{m}", at(Some("vars"))));
        // DVC reserves the iteration's names in generated stages.
        let generated = name.contains('@');
        let reserved = RESERVED.iter().find(|r| generated && names(&own).any(|n| n == **r));
        if let Some(r) = reserved {
            return Err(fail(format!("`vars` may not set `{r}`: DVC reserves it in `foreach` and `matrix` stages")));
        }
        // As DVC, a stage's `vars` files are in its `wdir`, resolved before those `vars` load.
        let wdir = match def.get("wdir") {
            Some(w) => template::resolve(w, &scope.values, None, &mut Vec::new())
                .map_err(|m| Error::Config(format!("{}`wdir`: {m}", at(Some("wdir")))))?,
            None => Value::Null,
        };
        scope.load(&own, root, wdir.as_str().unwrap_or(""), Some(&name)).map_err(fail)?;
    }
    let mut resolved = Map::new();
    let mut used = Vec::new();
    for (key, value) in def {
        let value = template::resolve(&value, &scope.values, (key == "cmd").then_some(scope.unpack), &mut used)
            .map_err(|m| Error::Config(format!("{}`{key}`: {m}", at(Some(&key)))))?;
        resolved.insert(key, value);
    }
    Ok(Generated { name, def: resolved, used })
}

/// The iteration's names in the scope of a `foreach` or `matrix` stage.
const RESERVED: [&str; 2] = ["item", "key"];

/// The top-level names inline `vars:` mappings set.
fn names(vars: &Value) -> impl Iterator<Item = &str> {
    vars.as_array().into_iter().flatten().filter_map(Value::as_object).flat_map(|m| m.keys().map(String::as_str))
}

/// The scope `${...}` resolves in, with where each value came from, as DVC's context
/// keeps it: a value set twice, even to the same value, is an error naming both sources.
#[derive(Clone)]
pub struct Vars {
    pub values: Map<String, Value>,
    /// The source (`params.yaml`, `vars[0]`, `train.vars[1]`, `cfg.yaml`) of each key path
    /// (`train.lr`) as it was added.
    sources: HashMap<String, String>,
    /// `vars` files loaded: whole (`None`), or the keys loaded from them.
    imports: HashMap<PathBuf, Option<Vec<String>>>,
    /// How a mapping unpacks in `cmd`.
    pub unpack: Unpack,
}

impl Vars {
    /// params.yaml's values (with the `--set`s applied), which DVC loads before any `vars`.
    pub fn params(values: Map<String, Value>, file: &Path, unpack: Unpack) -> Vars {
        let sources = values.keys().map(|k| (k.clone(), super::params::DEFAULT_FILE.to_string())).collect();
        let imports = if file.exists() { HashMap::from([(identity(file), None)]) } else { HashMap::new() };
        Vars { values, sources, imports, unpack }
    }

    /// `vars:` entries: inline mappings, or files (`file.yaml`, `file.yaml:key1,key2`)
    /// in `wdir` (relative to `root`, the `dvc.yaml`'s directory), merged into the scope.
    /// `stage` names a stage's own entries as DVC does (`train.vars[0]`).
    pub fn load(&mut self, vars: &Value, root: &Path, wdir: &str, stage: Option<&str>) -> Result<(), String> {
        let Value::Array(entries) = vars else {
            return Err("`vars` is a list of files and mappings".into());
        };
        if let Some(found) = template::interpolation(vars) {
            return Err(format!("interpolating is not allowed in `vars` (`{found}`); DVC refuses it too"));
        }
        for (i, entry) in entries.iter().enumerate() {
            match entry {
                Value::Object(map) => {
                    let source = stage.map_or(format!("vars[{i}]"), |s| format!("{s}.vars[{i}]"));
                    self.merge(map, &source)?
                }
                Value::String(spec) => self.import(spec, root, wdir)?,
                other => return Err(format!("a `vars` entry is a file name or a mapping, got {other}")),
            }
        }
        Ok(())
    }

    /// One `vars` file entry. As in DVC, a file listed whole again is skipped, while loading
    /// some of its keys again, or it both whole and by key, is an error.
    fn import(&mut self, spec: &str, root: &Path, wdir: &str) -> Result<(), String> {
        let (file, keys) = spec.split_once(':').unwrap_or((spec, ""));
        let keys: Vec<String> = keys.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect();
        // As in DVC, a file with no keys after its `:` (`cfg.yaml:`) is loaded whole.
        let keys = (!keys.is_empty()).then_some(keys);
        // Named as from the `dvc.yaml` (`sub/cfg.yaml`), as DVC names it.
        let named = Path::new(wdir).join(file);
        let file = &*named.to_string_lossy();
        let path = root.join(&named);
        let id = identity(&path);
        let again = match (self.imports.get(&id), &keys) {
            (Some(None), None) => return Ok(()),
            (Some(None), Some(_)) => Some(format!("`{file}` is loaded whole already")),
            (Some(Some(_)), None) => Some(format!("keys of `{file}` are loaded already")),
            (Some(Some(had)), Some(keys)) => {
                keys.iter().find(|k| had.contains(k)).map(|k| format!("`{k}` is loaded already"))
            }
            (None, _) => None,
        };
        if let Some(why) = again {
            return Err(format!("`vars`: cannot load `{spec}`: {why}; DVC refuses this too"));
        }
        let Value::Object(values) = read_values(&path)? else {
            return Err(format!("`vars` file `{file}` does not hold a mapping"));
        };
        let Some(keys) = keys else {
            self.merge(&values, file)?;
            self.imports.insert(id, None);
            return Ok(());
        };
        let mut picked = Map::new();
        for key in &keys {
            let value = values.get(key).ok_or_else(|| format!("`vars`: `{file}` has no key `{key}`"))?;
            picked.insert(key.clone(), value.clone());
        }
        self.merge(&picked, file)?;
        self.imports.entry(id).or_insert_with(|| Some(Vec::new())).get_or_insert_default().extend(keys);
        Ok(())
    }

    /// Merges `from` (named `source` in errors) into the scope: mappings key by key, and
    /// no value set again, as DVC allows no redefinition, not even to the same value.
    fn merge(&mut self, from: &Map<String, Value>, source: &str) -> Result<(), String> {
        fn walk(
            into: &mut Map<String, Value>,
            sources: &mut HashMap<String, String>,
            from: &Map<String, Value>,
            source: &str,
            at: &str,
        ) -> Result<(), String> {
            for (k, v) in from {
                let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                match (into.get_mut(k), v) {
                    (Some(Value::Object(old)), Value::Object(new)) => walk(old, sources, new, source, &path)?,
                    (Some(old), _) => {
                        // The source of the value, or of the mapping it came in.
                        let set_by =
                            std::iter::successors(Some(path.as_str()), |p| p.rsplit_once('.').map(|(up, _)| up))
                                .find_map(|p| sources.get(p))
                                .map_or("", String::as_str);
                        return Err(format!(
                            "`{source}` redefines `{path}` ({old} -> {v}), which `{set_by}` set already; \
                             DVC refuses any redefinition, even to the same value"
                        ));
                    }
                    (None, _) => {
                        into.insert(k.clone(), v.clone());
                        sources.insert(path, source.to_string());
                    }
                }
            }
            Ok(())
        }
        walk(&mut self.values, &mut self.sources, from, source, "")
    }
}

/// A file under any spelling (`cfg.yaml`, `./cfg.yaml`), as DVC recognises one loaded already.
fn identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A YAML, JSON or TOML file of values (params files, `vars` files).
pub fn read_values(path: &Path) -> Result<Value, String> {
    let shown = path.display();
    match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml" | "json" | "toml") => {}
        Some("py") => {
            return Err(format!("`{shown}`: .py params files are not supported; pipe reads YAML, JSON and TOML"))
        }
        _ => return Err(format!("`{shown}`: not a YAML, JSON or TOML file")),
    }
    let source = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    values::parse(path, &source).map_err(|e| format!("`{shown}`: {e}"))
}
