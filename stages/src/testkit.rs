//! Helpers for tests of stages (used by this crate's tests and by stages/tests/*):
//! run a stage through the protocol in a temp dir, and locate ../shared.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{Context, Input, Registry, SilentProgress, StageError};

pub mod levels;

/// The offline material (`../shared` beside the checkout, or `$PIPE_SHARED`).
/// Panics with what is missing: a test that needs it must fail, not pass silently.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("PIPE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    assert!(
        dir.join("hf/hub").is_dir(),
        "offline material not found: expected {} with hf/hub, hf/golden and data/sst2 \
         (clone the project beside ../shared or set PIPE_SHARED)",
        dir.display()
    );
    dir
}

/// Points the Hugging Face cache at ../shared/hf for this test process.
pub fn use_offline_hub() -> PathBuf {
    let hf = shared_dir().join("hf");
    // Every test sets the same value, so concurrent tests cannot disagree.
    std::env::set_var("HF_HOME", &hf);
    hf
}

/// The snapshot directory of hub repo `repo` (`pipe-fixtures/tiny-bert`) in
/// ../shared/hf; panics naming the directory it looked in.
pub fn fixture_snapshot(repo: &str) -> PathBuf {
    let snapshots = shared_dir().join("hf/hub").join(format!("models--{}", repo.replace('/', "--"))).join("snapshots");
    let first = std::fs::read_dir(&snapshots).ok().and_then(|mut d| d.next()).and_then(Result::ok);
    first.unwrap_or_else(|| panic!("no snapshot of {repo} in {}", snapshots.display())).path()
}

/// Writes an evaluate-style `predictions.csv` into `dir` (created): one row per
/// entry of `correct`, true label positive, predicted positive when correct.
pub fn write_predictions(dir: &Path, correct: &[bool]) {
    use crate::eval::predictions::{write_csv, Prediction};
    std::fs::create_dir_all(dir).expect("create the predictions directory");
    let rows: Vec<Prediction> = correct
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let p = if c { 0.9 } else { 0.1 };
            Prediction {
                idx: i as u64,
                text: format!("s{i}"),
                label: 1,
                pred: u8::from(c),
                p_negative: 1.0 - p,
                p_positive: p,
                confidence: 0.9,
                correct: c,
            }
        })
        .collect();
    write_csv(&dir.join("predictions.csv"), &rows).expect("write predictions.csv");
}

/// The result of running a stage: its artifact directory and metrics.
pub struct Ran {
    pub dir: PathBuf,
    pub metrics: Map<String, Value>,
    pub params: Value,
}

impl Ran {
    /// This artifact as the upstream input of another stage.
    pub fn as_input(&self, kind: &str) -> Input {
        Input {
            stage: kind.to_string(),
            kind: kind.to_string(),
            instance: kind.to_string(),
            matrix: Default::default(),
            params: self.params.clone(),
            dir: self.dir.clone(),
            metrics: Value::Object(self.metrics.clone()),
        }
    }
}

/// Resolves `raw` params and runs the built-in stage `kind` into `out_dir` (created).
pub fn run_stage(kind: &str, raw: Value, inputs: Vec<Input>, out_dir: &Path, seed: u64) -> Result<Ran, StageError> {
    let registry = Registry::builtin();
    let stage = registry.get(kind).unwrap_or_else(|| panic!("no built-in stage `{kind}`"));
    let params = stage.resolve(&raw)?;
    // As the runner hands them over: with the values each upstream's key leaves out.
    let inputs = inputs.into_iter().map(|i| Input { params: registry.shown(&i.kind, &i.params), ..i }).collect();
    std::fs::create_dir_all(out_dir).map_err(StageError::io(out_dir))?;
    let workdir = std::env::current_dir().map_err(StageError::io("."))?;
    let mut ctx =
        Context::new(kind.to_string(), params.clone(), inputs, out_dir.to_path_buf(), workdir, seed, &SilentProgress);
    stage.run(&mut ctx)?;
    Ok(Ran { dir: out_dir.to_path_buf(), metrics: ctx.into_metrics(), params })
}
