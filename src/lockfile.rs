//! The pipeline's lock file (`final.yaml` -> `final.lock`, beside it): for each
//! stage instance, the key and artifact hash it last resolved to, whether it was
//! cached or ran, how long it took and its headline metrics. It is what
//! `pipe status --why` compares the current keys against.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use pipe_stages::numfmt::format_value;
use pipe_stages::Registry;

use crate::plan::Plan;
use crate::record::{RunRecord, Status};
use crate::store::read_json;
use crate::{atomic, Error};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LockFile {
    pub pipeline: String,
    /// The name of the pipeline file that wrote it. `p.yaml` and `p.yml` beside each other
    /// would share `p.lock`; this tells them apart (absent in lock files from before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The run that last wrote this file.
    pub run: String,
    pub stages: BTreeMap<String, LockEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockEntry {
    pub key: String,
    pub artifact: String,
    pub status: Status,
    pub seconds: f64,
    pub metrics: Map<String, Value>,
}

/// `<dir>/<stem>.lock` for `<dir>/<stem>.yaml`; `dvc.pipe.lock` for `dvc.yaml`, whose
/// `dvc.lock` belongs to DVC.
pub fn path_for(pipeline_file: &Path) -> PathBuf {
    if crate::dvc::is_dvc_name(pipeline_file) {
        return pipeline_file.with_extension("pipe.lock");
    }
    pipeline_file.with_extension("lock")
}

/// The lock file of pipeline file `file`, or an empty one when the pipeline never ran.
/// One that does not parse (a merge conflict in a committed lock file, say) is the user's
/// to fix: it only records the last run, so the error says it can go. One written by
/// another pipeline file of the same stem is refused: reading it would judge this
/// pipeline by the other's artifacts, and writing it would lose the other's.
pub fn load(file: &Path) -> Result<LockFile, Error> {
    let path = path_for(file);
    if !path.exists() {
        return Ok(LockFile::default());
    }
    let lock = parse(&path)?;
    let name = file_name(file);
    match &lock.file {
        Some(by) if *by != name => Err(Error::Config(format!(
            "{}: written by `{by}`, not `{name}`: both pipeline files in {} have this lock file; rename one \
             (or delete the lock file if `{by}` is gone)",
            path.display(),
            file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).display()
        ))),
        _ => Ok(lock),
    }
}

fn file_name(file: &Path) -> String {
    file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn parse(path: &Path) -> Result<LockFile, Error> {
    read_json(path).map_err(|e| match e {
        Error::Corrupt { path, message } => Error::Config(format!(
            "{}: not a lock file pipe can read ({message}; a merge conflict?). It records the last run only: \
             fix it, or delete it and `pipe run` writes it anew (the cache keeps every artifact)",
            path.display()
        )),
        e => e,
    })
}

impl LockFile {
    /// Records this run's successful instances; entries of other instances that
    /// still exist in the pipeline are kept (a `--stage` run touches only some).
    pub fn update(
        &mut self,
        (pipeline, file): (&str, &Path),
        run: &str,
        entries: Vec<(String, LockEntry)>,
        instances: &[&str],
    ) {
        self.pipeline = pipeline.to_string();
        self.file = Some(file_name(file));
        self.run = run.to_string();
        self.stages.retain(|name, _| instances.contains(&name.as_str()));
        self.stages.extend(entries);
    }

    pub fn save(&self, path: &Path) -> Result<(), Error> {
        atomic::write_json(path, self).map(drop)
    }
}

/// The metrics a stage names as its headline, or (when it names none) its top-level numbers.
pub fn headline(names: &[&str], metrics: &Map<String, Value>) -> Map<String, Value> {
    if names.is_empty() {
        return metrics.iter().filter(|(_, v)| v.is_number()).map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    names.iter().filter_map(|n| metrics.get(*n).map(|v| (n.to_string(), v.clone()))).collect()
}

/// `accuracy=0.9123 steps=8` for tables: 4 significant digits, as `pipe show` and `diff` print them.
pub fn compact(metrics: &Map<String, Value>) -> String {
    metrics.iter().map(|(k, v)| format!("{k}={}", format_value(v))).collect::<Vec<_>>().join(" ")
}

/// Enters `record`'s instances with a key and an artifact into the lock file of the
/// pipeline `file` (`plan`), as the pipeline's latest state.
pub fn record(plan: &Plan, registry: &Registry, file: &Path, record: &RunRecord) -> Result<(), Error> {
    let mut lock = load(file)?;
    let entries = record
        .stages
        .iter()
        .filter_map(|r| {
            let names = registry.get(&r.kind).map(|s| s.headline()).unwrap_or_default();
            Some((
                r.instance.clone(),
                LockEntry {
                    key: r.key.clone()?,
                    artifact: r.artifact.clone()?,
                    status: r.status,
                    seconds: r.seconds,
                    metrics: headline(names, &r.metrics),
                },
            ))
        })
        .collect();
    let instances: Vec<&str> = plan.instances.iter().map(|i| i.name.as_str()).collect();
    lock.update((&plan.name, file), &record.id, entries, &instances);
    lock.save(&path_for(file))
}
