//! The pipeline file: YAML parsed into typed structs. Unknown keys are errors,
//! and every error names the file, line and stage, with a "did you mean".

use std::fmt;
use std::path::{Path, PathBuf};

use pipe_stages::shell::DvcStage;
use pipe_stages::values::{from_yaml, YamlError};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::executor::ExecutorKind;
use crate::resources::Resources;
use crate::{suggest, Error};

/// The stage kind whose top-level `run`, `deps` and `outs` keys are its params.
pub const SHELL: &str = "shell";

/// A parsed pipeline file.
/// A dvc.yaml stage with `frozen: true`.
#[derive(Debug, Clone)]
pub struct Frozen {
    pub name: String,
    /// The stages that read its outs and are not frozen: where `--stage NAME --downstream`
    /// starts, as `dvc repro --downstream` does.
    pub readers: Vec<String>,
}

#[derive(Debug)]
pub struct Pipeline {
    pub name: String,
    pub seed: u64,
    pub params: Map<String, Value>,
    /// In file order.
    pub stages: Vec<StageSpec>,
    /// `resources:` at the top: defaults for every stage.
    pub resources: Resources,
    /// `executor:`: where stale instances are computed unless the command line says otherwise.
    pub executor: Option<ExecutorKind>,
    /// dvc.yaml stages with `frozen: true`: never run, so not in `stages`.
    pub frozen: Vec<Frozen>,
    /// (stage, key) pairs whose value `--set` gave: errors about them name the option,
    /// not the file's line.
    pub set: Vec<(String, String)>,
    /// The file as given on the command line.
    pub file: PathBuf,
    /// Absolute directory of the file: commands run and relative paths resolve here.
    pub workdir: PathBuf,
    source: String,
}

/// One entry of `stages:`.
#[derive(Debug, Clone)]
pub struct StageSpec {
    pub name: String,
    pub uses: String,
    pub needs: Vec<String>,
    pub gather: Vec<String>,
    /// Raw params (`with:`, plus `run`/`deps`/`outs` for shell stages), before interpolation.
    pub with: Map<String, Value>,
    pub matrix: Option<Value>,
    pub exclude: Vec<Map<String, Value>>,
    pub seed: Option<u64>,
    /// What a cluster job computing one of its instances asks for (not part of the key).
    pub resources: Resources,
    /// Workspace paths the command reads from upstream outs: the upstream artifacts, not
    /// these files, enter the key (a `dvc.yaml` dep inside another stage's out).
    pub reads: Vec<String>,
    /// Whether any earlier artifact of an instance's key may be reused (see [`crate::plan::Reuse`]).
    pub run_cache: bool,
    /// A `dvc.yaml` stage as its `dvc.lock` entry names it: a stale instance adopts DVC's
    /// outs where that entry shows `dvc repro` would skip it (not part of the key).
    pub dvc: Option<DvcStage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    name: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    params: Map<String, Value>,
    #[serde(default)]
    resources: Resources,
    #[serde(default)]
    executor: Option<ExecutorKind>,
    stages: StageList,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    uses: String,
    #[serde(default)]
    needs: Vec<String>,
    #[serde(default)]
    gather: Vec<String>,
    #[serde(default)]
    with: Option<Map<String, Value>>,
    #[serde(default)]
    matrix: Option<Value>,
    #[serde(default)]
    exclude: Vec<Map<String, Value>>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    run: Option<Value>,
    #[serde(default)]
    deps: Option<Value>,
    #[serde(default)]
    outs: Option<Value>,
    #[serde(default)]
    resources: Resources,
}

/// `stages:` keeps file order (it is the display order); `values::from_yaml` has refused
/// duplicate names already.
struct StageList(Vec<(String, RawStage)>);

impl<'de> Deserialize<'de> for StageList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = StageList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping from stage names to stages")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StageList, A::Error> {
                let mut stages: Vec<(String, RawStage)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let stage = map.next_value::<RawStage>()?;
                    stages.push((name, stage));
                }
                Ok(StageList(stages))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// Reads and parses a pipeline file.
pub fn load(file: &Path) -> Result<Pipeline, Error> {
    // A missing or unreadable pipeline file is a command-line mistake (exit code 2).
    let source =
        std::fs::read_to_string(file).map_err(|e| Error::Config(format!("cannot read {}: {e}", file.display())))?;
    parse(file, source)
}

pub fn parse(file: &Path, source: String) -> Result<Pipeline, Error> {
    let raw: RawPipeline = from_yaml(&source).map_err(|e| yaml_error(file, &e))?;
    let mut pipeline = Pipeline::new(file, source, raw.name, raw.seed, raw.params)?;
    pipeline.resources = raw.resources;
    pipeline.executor = raw.executor;
    for (name, stage) in raw.stages.0 {
        let spec = fold(&pipeline, name, stage)?;
        pipeline.stages.push(spec);
    }
    if pipeline.stages.is_empty() {
        return Err(Error::Config(format!("{}: `stages:` is empty", pipeline.at_top("stages"))));
    }
    Ok(pipeline)
}

/// Moves a shell stage's top-level `run`/`deps`/`outs` into its params.
fn fold(pipeline: &Pipeline, name: String, raw: RawStage) -> Result<StageSpec, Error> {
    // Instance names add `[k=v,...]`, `--set` splits at `.`, and `params` is the params' prefix.
    let clash = name.chars().find(|c| matches!(c, '[' | ']' | '=' | ',' | '.') || c.is_whitespace());
    if name.is_empty() || name == "params" || clash.is_some() {
        let why = match clash {
            Some(c) => {
                format!("`{}` is not allowed in a stage name (instance names and `--set` use it)", c.escape_debug())
            }
            None if name.is_empty() => "a stage needs a name".to_string(),
            None => "`params` is the prefix of the pipeline's params (`${params.x}`, `--set params.x=...`)".to_string(),
        };
        return Err(Error::Config(format!("{}: stage `{}`: {why}", pipeline.at(&name, None), name.escape_debug())));
    }
    let mut with = raw.with.unwrap_or_default();
    // `run:` under a misspelt `shell` is the misspelling, not a misplaced key: it folds as
    // for `shell`, and the plan names the unknown kind, with the kinds there are.
    let shell = raw.uses == SHELL || suggest::closest(&raw.uses, [SHELL]).is_some();
    for (key, value) in [("run", raw.run), ("deps", raw.deps), ("outs", raw.outs)] {
        let Some(value) = value else { continue };
        // Only on error: finding the line scans the file, once per stage would be quadratic.
        let at = || pipeline.at(&name, Some(key));
        if !shell {
            return Err(Error::Config(format!(
                "{}: stage `{name}`: `{key}:` belongs to `uses: shell` stages; params of `{}` go under `with:`",
                at(),
                raw.uses
            )));
        }
        if with.insert(key.to_string(), value).is_some() {
            return Err(Error::Config(format!(
                "{}: stage `{name}`: `{key}` is given both at the stage level and under `with:`",
                at()
            )));
        }
    }
    Ok(StageSpec {
        name,
        uses: raw.uses,
        needs: raw.needs,
        gather: raw.gather,
        with,
        matrix: raw.matrix,
        exclude: raw.exclude,
        seed: raw.seed,
        resources: raw.resources,
        reads: Vec::new(),
        run_cache: true,
        dvc: None,
    })
}

impl Pipeline {
    /// A pipeline without stages yet; `source` is the file's text (for error lines).
    /// Front ends other than this file's (see `dvc`) build theirs with it.
    pub fn new(
        file: &Path,
        source: String,
        name: String,
        seed: u64,
        params: Map<String, Value>,
    ) -> Result<Pipeline, Error> {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let workdir = std::path::absolute(dir).map_err(Error::io(dir))?;
        Ok(Pipeline {
            name,
            seed,
            params,
            stages: Vec::new(),
            resources: Resources::default(),
            executor: None,
            frozen: Vec::new(),
            set: Vec::new(),
            file: file.to_path_buf(),
            workdir,
            source,
        })
    }

    pub fn stage(&self, name: &str) -> Option<&StageSpec> {
        self.stages.iter().find(|s| s.name == name)
    }

    pub fn stage_mut(&mut self, name: &str) -> Option<&mut StageSpec> {
        self.stages.iter_mut().find(|s| s.name == name)
    }

    pub fn stage_names(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().map(|s| s.name.as_str())
    }

    /// `file:line` of stage `stage` (of its key `key` when given and found), for error messages.
    pub fn at(&self, stage: &str, key: Option<&str>) -> String {
        if let Some(key) = key.filter(|k| self.set.iter().any(|(s, set)| s == stage && set == k)) {
            return format!("--set {stage}.{key}");
        }
        match self.line_of(stage, key) {
            Some(line) => format!("{}:{line}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }

    /// `file:line` of top-level key `key`, or the file alone when it is not there.
    pub fn at_top(&self, key: &str) -> String {
        match self.source.lines().position(|l| l.starts_with(&format!("{key}:"))) {
            Some(i) => format!("{}:{}", self.file.display(), i + 1),
            None => self.file.display().to_string(),
        }
    }

    /// A line scan rather than a YAML AST: it finds block-style keys (the usual layout), then
    /// keys inside a flow mapping (`with: {model: x, lr: 0.1}`, maybe over several lines), and
    /// falls back to the stage's own line.
    fn line_of(&self, stage: &str, key: Option<&str>) -> Option<usize> {
        // DVC's generated stages (`train@lr-0.1`) sit under their group's entry.
        let stage = stage.split_once('@').map_or(stage, |(group, _)| group);
        let lines: Vec<&str> = self.source.lines().collect();
        let stages = lines.iter().position(|l| l.starts_with("stages:"))?;
        let is_key = |line: &str, name: &str| {
            let t = line.trim_start();
            // A double-quoted key may spell a tab or a quote as an escape.
            let escaped = format!("\"{}\":", name.escape_debug());
            [format!("{name}:"), format!("\"{name}\":"), format!("'{name}':"), escaped]
                .iter()
                .any(|k| t.starts_with(k.as_str()))
        };
        let indent = |line: &str| line.len() - line.trim_start().len();
        let start = (stages + 1..lines.len()).find(|&i| indent(lines[i]) > 0 && is_key(lines[i], stage))?;
        let Some(key) = key else { return Some(start + 1) };
        let own = indent(lines[start]);
        let block = (start + 1..lines.len()).take_while(|&i| {
            lines[i].trim().is_empty() || lines[i].trim_start().starts_with('#') || indent(lines[i]) > own
        });
        let end = block.last().unwrap_or(start);
        let in_flow = |line: &str| {
            let bytes = line.as_bytes();
            let after_separator = |at: usize| at > 0 && matches!(bytes[at - 1], b'{' | b',' | b' ');
            !line.trim_start().starts_with('#')
                && [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")]
                    .iter()
                    .any(|k| line.match_indices(k.as_str()).any(|(at, _)| after_separator(at)))
        };
        let found =
            (start + 1..=end).find(|&i| is_key(lines[i], key)).or_else(|| (start..=end).find(|&i| in_flow(lines[i])));
        Some(found.unwrap_or(start) + 1)
    }
}

/// serde_yaml_ng reports "stages.train: unknown field `neds`, expected ... at line 5 column 5";
/// this becomes "file:5: stage `train`: unknown key `neds` (did you mean `needs`?); valid keys: ...".
fn yaml_error(file: &Path, e: &YamlError) -> Error {
    let message = e.message.as_str();
    let (path, message) = match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (path, rest),
        _ => ("", message),
    };
    let stage = path.strip_prefix("stages.").and_then(|rest| rest.split(['.', '[']).next());
    let at = match e.line {
        Some(line) => format!("{}:{line}", file.display()),
        None => file.display().to_string(),
    };
    let context = match (stage, path) {
        (Some(stage), _) => format!("stage `{stage}`: "),
        (None, "" | ".") => String::new(),
        (None, path) => format!("`{path}`: "),
    };
    Error::Config(format!("{at}: {context}{}", suggest::explain(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(yaml: &str) -> Result<Pipeline, Error> {
        parse(Path::new("p/x.yaml"), yaml.to_string())
    }

    #[test]
    fn merge_keys_share_a_stage_s_settings_and_errors_still_name_stage_and_key() {
        let yaml = "name: x\nstages:\n  a: &a\n    uses: shell\n    run: echo a\n  b:\n    <<: *a\n    run: echo b\n";
        let p = parse_str(yaml).unwrap();
        assert_eq!((p.stages[1].uses.as_str(), &p.stages[1].with["run"]), ("shell", &Value::from("echo b")));
        let err = parse_str(&yaml.replace("run: echo b", "neds: [a]")).unwrap_err().to_string();
        assert!(err.starts_with("p/x.yaml: stage `b`: unknown key `neds` (did you mean `needs`?)"), "{err}");
    }

    #[test]
    fn stage_names_that_instance_names_or_set_cannot_tell_apart_are_refused() {
        for (name, why) in [
            ("\"a[x=1]\"", "`[` is not allowed in a stage name"),
            ("b.c", "`.` is not allowed in a stage name"),
            ("\"\"", "a stage needs a name"),
            ("params", "`params` is the prefix of the pipeline's params"),
        ] {
            let err = parse_str(&format!("name: x\nstages:\n  {name}: {{uses: shell, run: 'true'}}\n")).unwrap_err();
            assert!(err.to_string().contains(why), "{name}: {err}");
        }
        // A tab shows as its escape, and the error still finds the stage's line.
        let err = parse_str("name: x\nstages:\n  \"a\\tb\": {uses: shell, run: 'true'}\n").unwrap_err().to_string();
        assert!(err.starts_with("p/x.yaml:3: stage `a\\tb`: `\\t` is not allowed"), "{err}");
        assert!(parse_str("name: x\nstages:\n  prep-data_2: {uses: shell, run: 'true'}\n").is_ok());
    }

    #[test]
    fn unknown_stage_key_names_line_stage_and_nearest_key() {
        let err = parse_str("name: x\nstages:\n  a:\n    uses: shell\n    neds: [b]\n").unwrap_err().to_string();
        assert!(err.starts_with("p/x.yaml:5: stage `a`: unknown key `neds` (did you mean `needs`?)"), "{err}");
    }

    #[test]
    fn shell_keys_fold_into_params_and_lines_are_found() {
        let p = parse_str("name: x\nstages:\n  a:\n    uses: shell\n    run: echo hi\n    deps: [f]\n").unwrap();
        assert_eq!(p.stages[0].with["run"], "echo hi");
        assert_eq!(p.at("a", Some("deps")), "p/x.yaml:6");
        let err = parse_str("name: x\nstages:\n  a: {uses: train, run: x}\n").unwrap_err().to_string();
        assert!(err.contains("p/x.yaml:3: stage `a`: `run:` belongs to `uses: shell`"), "{err}");
        let p = parse_str("name: x\nstages:\n  a:\n    uses: shel\n    run: x\n").unwrap();
        assert_eq!(p.stages[0].with["run"], "x", "a misspelt `shell` is left to the plan to name");
        // Keys of a flow mapping, on the stage's line or on a line of their own.
        let p = parse_str(
            "name: x\nstages:\n  a: {uses: train, with: {lr: 1}}\n  b:\n    uses: train\n    with: {model: m,\n      elr: 1}\n",
        )
        .unwrap();
        assert_eq!(p.at("a", Some("lr")), "p/x.yaml:3");
        assert_eq!(p.at("b", Some("model")), "p/x.yaml:6");
        assert_eq!(p.at("b", Some("lr")), "p/x.yaml:4", "`elr:` is not `lr:`");
        assert_eq!(p.at("b", Some("elr")), "p/x.yaml:7");
        // Not in a comment; quoted keys too.
        let p = parse_str(
            "name: x\nstages:\n  a:\n    uses: train\n    # lr: a comment\n    with: {\n      model: m, \"lr\": 1}\n",
        )
        .unwrap();
        assert_eq!(p.at("a", Some("lr")), "p/x.yaml:7");
    }
}
