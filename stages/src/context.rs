use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::shell::DvcStage;
use crate::StageError;

/// The matrix key that sets an instance's seed instead of entering its params
/// (`matrix: {seed: [1, 2, 3]}`); gathering stages group variants by the other keys.
pub const SEED_AXIS: &str = "seed";

/// One upstream artifact as a stage sees it.
#[derive(Debug, Clone)]
pub struct Input {
    /// Stage name in the pipeline file (`train`).
    pub stage: String,
    /// Stage kind (`train`): stages look their inputs up by kind, so users may rename stages.
    pub kind: String,
    /// Instance name (`train[dropout=0.1,pooling=mean]`).
    pub instance: String,
    /// The matrix values of this instance (empty for a plain stage).
    pub matrix: BTreeMap<String, Value>,
    /// Resolved params of the upstream instance, with the values its stage leaves out of
    /// its key filled in (`Registry::shown`): as the stage ran with them.
    pub params: Value,
    /// The upstream artifact directory (read-only).
    pub dir: PathBuf,
    /// The upstream metrics.json.
    pub metrics: Value,
}

impl Input {
    /// The resolved params with each unset (null) one replaced by the metric of the same
    /// name, where the stage recorded the value it used (the train stage's `model` and
    /// `revision` come from the tokenize stage); and the keys so replaced.
    pub fn params_as_run(&self) -> (Value, Vec<String>) {
        let mut params = self.params.clone();
        let mut filled = Vec::new();
        if let Some(map) = params.as_object_mut() {
            for (key, value) in map.iter_mut() {
                if let (true, Some(recorded)) = (value.is_null(), self.metrics.get(key)) {
                    *value = recorded.clone();
                    filled.push(key.clone());
                }
            }
        }
        (params, filled)
    }
}

/// Progress reporting; the engine draws it as a bar or as plain lines.
pub trait Progress: Send + Sync {
    fn set_length(&self, len: u64);
    fn set_position(&self, pos: u64);
    fn set_message(&self, msg: &str);
    /// A line a stage's command wrote on its stdout or stderr: by default the message
    /// (a terminal shows the last one); a cluster job's log takes each of them.
    fn output(&self, line: &str) {
        self.set_message(line.trim());
    }
}

pub struct SilentProgress;

impl Progress for SilentProgress {
    fn set_length(&self, _: u64) {}
    fn set_position(&self, _: u64) {}
    fn set_message(&self, _: &str) {}
}

/// Everything a running stage may touch.
pub struct Context<'a> {
    pub instance: String,
    pub params: Value,
    pub inputs: Vec<Input>,
    /// Private directory that becomes the artifact on success.
    pub out_dir: PathBuf,
    /// Directory of the pipeline file (relative paths in params resolve against it).
    pub workdir: PathBuf,
    pub seed: u64,
    pub progress: &'a dyn Progress,
    /// The run recomputes the stage whatever it finds (`pipe run --force`).
    pub force: bool,
    /// A dvc.yaml stage as DVC names it, whose `dvc.lock` entry may let it adopt DVC's outs.
    pub dvc: Option<DvcStage>,
    metrics: Map<String, Value>,
    adopted: bool,
}

impl<'a> Context<'a> {
    pub fn new(
        instance: String,
        params: Value,
        inputs: Vec<Input>,
        out_dir: PathBuf,
        workdir: PathBuf,
        seed: u64,
        progress: &'a dyn Progress,
    ) -> Self {
        Context {
            instance,
            params,
            inputs,
            out_dir,
            workdir,
            seed,
            progress,
            force: false,
            dvc: None,
            metrics: Map::new(),
            adopted: false,
        }
    }

    /// Sets [`Context::force`], false by default.
    pub fn forced(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Sets [`Context::dvc`], none by default.
    pub fn dvc_stage(mut self, dvc: Option<DvcStage>) -> Self {
        self.dvc = dvc;
        self
    }

    /// The single upstream artifact of the given kind.
    pub fn input(&self, kind: &str) -> Result<&Input, StageError> {
        let mut found = self.inputs.iter().filter(|i| i.kind == kind);
        match (found.next(), found.next()) {
            (Some(i), None) => Ok(i),
            (None, _) => Err(StageError::Input(format!(
                "stage `{}` needs an upstream `{kind}` stage (add it to `needs:`)",
                self.instance
            ))),
            (Some(_), Some(_)) => Err(StageError::Input(format!(
                "stage `{}` has several upstream `{kind}` artifacts; gather them with a gathering stage",
                self.instance
            ))),
        }
    }

    /// Every upstream artifact of the given kind (all variants of a gathered matrix stage).
    pub fn inputs_of(&self, kind: &str) -> Vec<&Input> {
        self.inputs.iter().filter(|i| i.kind == kind).collect()
    }

    /// Records a metric in the artifact's metrics.json. Non-finite numbers are stored as null.
    pub fn metric(&mut self, key: &str, value: impl Into<Value>) {
        self.metrics.insert(key.to_string(), value.into());
    }

    pub fn metrics(&self) -> &Map<String, Value> {
        &self.metrics
    }

    pub fn into_metrics(self) -> Map<String, Value> {
        self.metrics
    }

    /// Says that the artifact holds outs an earlier `dvc repro` made, taken as they were,
    /// not computed: the run reports the stage as adopted.
    pub fn mark_adopted(&mut self) {
        self.adopted = true;
    }

    pub fn was_adopted(&self) -> bool {
        self.adopted
    }

    /// A path inside the output directory, creating its parent directories.
    pub fn out_path(&self, rel: impl AsRef<Path>) -> Result<PathBuf, StageError> {
        let path = self.out_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(StageError::io(parent))?;
        }
        Ok(path)
    }
}
