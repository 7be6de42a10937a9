//! DVC's pipeline format (`dvc.yaml`) as a second front end: its stages become
//! shell stages of the same [`Pipeline`] that pipe's own YAML gives, so the
//! planner, keys, store and runner are shared. DVC's files (`dvc.lock`, `.dvc/`)
//! are never written: the lock file is `dvc.pipe.lock`.

pub mod adoption;
mod expand;
mod graph;
mod params;
mod repo;
mod stage;
mod template;

use std::path::Path;

use pipe_stages::shell::{dvc_lock_readable, DvcPath, DvcStage};
use pipe_stages::values::from_yaml;
use serde_json::{Map, Value};

use crate::overrides::{self, Override};
use crate::spec::{self, Frozen, Pipeline, StageSpec, SHELL};
use crate::{interpolate, suggest, Error};

/// Top-level keys of `dvc.yaml` (`dvc/schema.py`); all but `stages` and `vars` are
/// display settings for `dvc metrics`/`plots`/`params` and DVC Studio.
const TOP_KEYS: &[&str] = &["stages", "vars", "params", "metrics", "plots", "artifacts", "datasets"];

/// `dvc.yaml` (or `dvc.yml`): DVC's name for its pipeline file.
pub fn is_dvc_name(file: &Path) -> bool {
    matches!(file.file_name().and_then(|n| n.to_str()), Some("dvc.yaml" | "dvc.yml"))
}

/// A pipeline file in either format, with the lines to print on what DVC settings pipe leaves
/// aside (`note: ...`) or what of DVC's it cannot read (`warning: ...`).
/// `dvc.yaml` is DVC's by name; another file is DVC's by content when it is not a valid
/// pipe file, has no `name:` and its stages have a `cmd`, `foreach` or `matrix`.
/// Reads a pipeline file of either kind and applies the `--set`s: a dvc.yaml's `params.`
/// ones to the values of its params.yaml (as `dvc exp run -S` does, without editing the file).
pub fn load_any(file: &Path, sets: &[Override]) -> Result<(Pipeline, Vec<String>), Error> {
    let native = if is_dvc_name(file) {
        None
    } else {
        match spec::load(file) {
            Ok(pipeline) => Some(pipeline),
            Err(_) if looks_like_dvc(file) => None,
            Err(e) => return Err(e),
        }
    };
    let (mut pipeline, notes, rest) = match native {
        Some(pipeline) => (pipeline, Vec::new(), sets.to_vec()),
        None => {
            let (pipeline, notes) = load(file, sets)?;
            (pipeline, notes, sets.iter().filter(|o| !o.is_param()).cloned().collect())
        }
    };
    overrides::apply(&mut pipeline, &rest)?;
    // A stage `--set` changed is not the one `dvc.lock` describes.
    for (stage, _) in pipeline.set.clone() {
        if let Some(spec) = pipeline.stage_mut(&stage) {
            spec.dvc = None;
        }
    }
    Ok((pipeline, notes))
}

fn looks_like_dvc(file: &Path) -> bool {
    let Ok(Value::Object(top)) = std::fs::read_to_string(file).map_err(drop).and_then(|s| from_yaml(&s).map_err(drop))
    else {
        return false;
    };
    let dvc_stage = |s: &Value| ["cmd", "foreach", "matrix"].iter().any(|k| s.get(k).is_some());
    !top.contains_key("name") && top.get("stages").and_then(Value::as_object).is_some_and(|s| s.values().any(dvc_stage))
}

/// Reads a `dvc.yaml` into a pipeline of shell stages, with the `params.` overrides among
/// `sets` applied to params.yaml's values.
pub fn load(file: &Path, sets: &[Override]) -> Result<(Pipeline, Vec<String>), Error> {
    let source =
        std::fs::read_to_string(file).map_err(|e| Error::Config(format!("cannot read {}: {e}", file.display())))?;
    let top: Value = from_yaml(&source).map_err(|e| {
        let line = e.line.map(|l| format!(":{l}")).unwrap_or_default();
        Error::Config(format!("{}{line}: {}", file.display(), e.message))
    })?;
    let Value::Object(top) = top else {
        return Err(Error::Config(format!("{}: a dvc.yaml is a mapping with `stages:`", file.display())));
    };
    let mut pipeline = Pipeline::new(file, source.clone(), String::new(), 0, Map::new())?;
    let root = pipeline.workdir.clone();
    // Run records group by name: the project's directory names a DVC pipeline.
    pipeline.name = root.file_name().map_or("dvc".to_string(), |n| n.to_string_lossy().into_owned());
    if let Some(key) = top.keys().find(|k| !TOP_KEYS.contains(&k.as_str())) {
        return Err(Error::Config(format!(
            "{}: unknown top-level key `{key}`{}; valid keys: {}",
            pipeline.at_top(key),
            suggest::hint(key, TOP_KEYS.iter().copied()),
            TOP_KEYS.join(", ")
        )));
    }
    // DVC's scope: `params.yaml` beside the file, then the top-level `vars:`.
    let mut scope = Map::new();
    let default_params = root.join(params::DEFAULT_FILE);
    if default_params.exists() {
        if let Value::Object(values) = expand::read_values(&default_params).map_err(Error::Config)? {
            scope = values;
        }
    }
    for o in sets.iter().filter(|o| o.is_param()) {
        overrides::set_param(&mut scope, o, &format!("{} has", default_params.display()))?;
    }
    // DVC tracks the params.yaml values a stage's `${...}` use as params of that stage.
    let params_yaml = Value::Object(scope.clone());
    let file_name = file.file_name().map_or("dvc.yaml".into(), |n| n.to_string_lossy().into_owned());
    let mut notes = Vec::new();
    // DVC keeps a `dvc.lock` for a file named `dvc.yaml` only (`dvc/dvcfile.py`). One that
    // cannot be read at all is said once here; its stages then run.
    let locked = file_name == "dvc.yaml"
        && dvc_lock_readable(&root)
            .map_err(|e| notes.push(format!("warning: {e}; nothing is adopted from it: its stages run")))
            .is_ok();
    let repo = repo::Repo::find(&root.canonicalize().unwrap_or_else(|_| root.clone()), &file_name);
    let mut vars = expand::Vars::params(scope, &default_params, repo.unpack);
    if let Some(top_vars) = top.get("vars") {
        vars.load(top_vars, &root, "", None).map_err(|m| Error::Config(format!("{}: {m}", pipeline.at_top("vars"))))?;
    }
    let Some(Value::Object(entries)) = top.get("stages") else {
        return Err(Error::Config(format!(
            "{}: `stages:` must be a non-empty mapping of stages",
            pipeline.at_top("stages")
        )));
    };
    let mut stages = Vec::new();
    let mut used = Vec::new();
    for (group, entry) in entries {
        let at = |key: Option<&str>| format!("{}: stage `{group}`: ", pipeline.at(group, key));
        for generated in expand::expand(group, entry, &vars, &root, &at)? {
            let parsed = stage::parse(generated.name, &generated.def).map_err(|(key, message)| {
                let key = Some(key.as_str()).filter(|k| !k.is_empty());
                Error::Config(format!("{}{message}", at(key)))
            })?;
            stages.push(parsed);
            used.push(generated.used);
        }
    }
    let wirings = graph::wire(&stages).map_err(|(i, key, message)| {
        Error::Config(format!("{}: stage `{}`: {message}", pipeline.at(&stages[i].name, Some(key)), stages[i].name))
    })?;
    let mut files = params::ParamFiles::new(&root);
    // `params:` deps on params.yaml read the overridden values too.
    files.seed(params::DEFAULT_FILE, params_yaml.clone());
    let mut specs = Vec::new();
    for (i, ((stage, wiring), used)) in stages.iter().zip(&wirings).zip(&used).enumerate() {
        let at = |key: &str| format!("{}: stage `{}`", pipeline.at(&stage.name, Some(key)), stage.name);
        if stage.plot_props {
            notes.push(format!("note: {}: `plots` templates are not used; the files are kept as outs", at("plots")));
        }
        if stage.frozen {
            // DVC cuts frozen stages off their deps: `--downstream` stops at frozen readers.
            let readers = stages.iter().zip(&wirings).filter(|(r, w)| !r.frozen && w.frozen.contains(&i));
            let readers = readers.map(|(r, _)| r.name.clone()).collect();
            pipeline.frozen.push(Frozen { name: stage.name.clone(), readers });
            continue;
        }
        let mut values =
            files.resolve(&stage.params, &stage.wdir).map_err(|m| Error::Config(format!("{}: {m}", at("params"))))?;
        for path in used.iter().filter(|p| !matches!(p.split('.').next(), Some("item" | "key"))) {
            let listed = values.keys().any(|k| path == k || path.starts_with(&format!("{k}.")));
            if let (false, Some(value)) = (listed, path.split('.').try_fold(&params_yaml, |v, part| v.get(part))) {
                values.insert(path.clone(), value.clone());
            }
        }
        // None where DVC's view of the params cannot be had: nothing is adopted then.
        let dvc = locked.then(|| files.by_file(&stage.params, &stage.wdir).ok()).flatten().map(|params| DvcStage {
            name: stage.name.clone(),
            cmd: stage.cmd_written.clone(),
            deps: dvc_paths(&stage.deps_written, &stage.deps),
            params,
            outs: dvc_paths(&stage.outs_written, &stage.outs),
        });
        let run = script(&repo, stage);
        // Sorted: DVC does not rerun a stage whose deps or outs were only listed in another order.
        let strings = |list: &[String]| {
            let mut sorted = list.to_vec();
            sorted.sort();
            Value::from(sorted)
        };
        let mut with = Map::new();
        with.insert("run".into(), run.into());
        with.insert("deps".into(), strings(&wiring.hashed));
        with.insert("outs".into(), strings(&stage.outs));
        // DVC's `_can_hash` (`dvc/stage/cache.py`): no run-cache for a stage with `persist`
        // outs, or without outs, or without deps (params count as deps there).
        let run_cache =
            stage.persist.is_empty() && !stage.outs.is_empty() && !(stage.deps.is_empty() && values.is_empty());
        with.insert("params".into(), params::compared(Value::Object(values)));
        with.insert("metrics".into(), strings(&stage.metrics));
        with.insert("persist".into(), strings(&stage.persist));
        with.insert("dvc_root".into(), repo.up.clone().into());
        // DVC's "callback" stage (a command with no deps, params or outs) runs on every repro.
        let callback = stage.deps.is_empty() && stage.params.is_empty() && stage.outs.is_empty();
        with.insert("always_changed".into(), (stage.always_changed || callback).into());
        specs.push(StageSpec {
            name: stage.name.clone(),
            uses: SHELL.into(),
            needs: wiring.needs.iter().map(|&j| stages[j].name.clone()).collect(),
            gather: Vec::new(),
            // DVC's templating is the only one a dvc.yaml gets: pipe's must find nothing left.
            with: interpolate::escape(with),
            matrix: None,
            exclude: Vec::new(),
            seed: None,
            resources: Default::default(),
            reads: wiring.reads.clone(),
            run_cache,
            dvc,
        });
    }
    pipeline.stages = specs;
    if pipeline.stages.is_empty() {
        // As `dvc repro`, which says the pipeline is up to date: nothing to run is no mistake.
        let why = if entries.is_empty() { "`stages:` is empty" } else { "every stage is frozen" };
        notes.push(format!("note: {}: nothing to run: {why}", pipeline.at_top("stages")));
    }
    Ok((pipeline, notes))
}

/// Deps or outs as dvc.yaml writes them paired with where they are.
fn dvc_paths(written: &[String], paths: &[String]) -> Vec<DvcPath> {
    written.iter().zip(paths).map(|(written, path)| DvcPath { written: written.clone(), path: path.clone() }).collect()
}

/// What DVC runs for `stage` (`dvc/stage/run.py`): each command in a fresh `$SHELL` (bash and
/// zsh without their startup files, fish without its config; `/bin/sh` when unset), in `wdir`,
/// one after another until one fails, with `DVC_ROOT` (unless set already) and `DVC_STAGE`
/// in the environment. The root is found from the `dvc.yaml` directory, where the script starts,
/// so the script (and with it the key) holds no absolute path.
fn script(repo: &repo::Repo, stage: &stage::Stage) -> String {
    let root = if repo.up.is_empty() { "$PWD".to_string() } else { format!("$(cd {} && pwd)", repo.up) };
    let mut lines = vec![
        format!("DVC_ROOT=\"${{DVC_ROOT:-{root}}}\""),
        format!("DVC_STAGE={}", template::shell_quote(&repo.address(&stage.name))),
        "export DVC_ROOT DVC_STAGE".to_string(),
    ];
    if !stage.wdir.is_empty() {
        lines.push(format!("cd {} || exit 1", template::shell_quote(&stage.wdir)));
    }
    lines.push(
        r#"in_shell() { case "${SHELL##*/}" in
  '') /bin/sh -c "$1" ;;
  bash) "$SHELL" --noprofile --norc -c "$1" ;;
  zsh) "$SHELL" --no-rcs -c "$1" ;;
  fish) "$SHELL" --no-config -c "$1" ;;
  *) "$SHELL" -c "$1" ;;
esac; }"#
            .to_string(),
    );
    let commands: Vec<String> = stage.cmd.iter().map(|c| format!("in_shell {}", template::shell_quote(c))).collect();
    lines.push(commands.join(" &&\n"));
    lines.join("\n")
}
