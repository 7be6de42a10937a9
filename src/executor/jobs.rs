//! Cluster jobs recorded in the cache, so that no instance is submitted twice, by two
//! `pipe run`s or two users sharing the cache:
//!
//! ```text
//! <cache>/jobs/<recipe>.json  a submitted job that computes the instance with this recipe
//! <cache>/jobs/submit.lock    held while a run checks the records and submits
//! <cache>/logs/<recipe>.log   the job's stdout and stderr
//! ```
//!
//! A job is submitted before its upstream artifacts exist, so its key is not known
//! yet. Its recipe is: the key computed with the upstream instances' recipes in place
//! of their artifact hashes. It is fixed by the pipeline alone, so a later run finds
//! the job whatever its upstream jobs have done meanwhile; an instance without inputs
//! has its key as recipe.

use std::fs::File;
use std::path::PathBuf;

use pipe_stages::{workspace, Registry};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::key::KeyParts;
use crate::plan::Plan;
use crate::store::{self, Store};
use crate::{atomic, Error};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    /// The id the cluster gave the job.
    pub job: String,
    pub executor: String,
    pub pipeline: String,
    pub instance: String,
    /// When known at submission (all inputs were in the store).
    pub key: Option<String>,
    pub log: PathBuf,
    /// UTC, ISO 8601.
    pub submitted: String,
}

/// The recipe of each instance marked in `which` (their upstream must be marked too);
/// none where a fingerprint cannot be taken (a missing dep) or an upstream has none.
/// A stage whose deps read an upstream's outs is fingerprinted without them: what they
/// hold is fixed by the upstream's recipe, and they may not be written yet.
pub fn recipes(plan: &Plan, registry: &Registry, which: &[bool]) -> Vec<Option<String>> {
    let mut recipes: Vec<Option<String>> = Vec::with_capacity(plan.instances.len());
    // The declared outs of each instance and of everything upstream of it.
    let mut outs: Vec<Vec<String>> = Vec::with_capacity(plan.instances.len());
    for (i, inst) in plan.instances.iter().enumerate() {
        let stage = registry.get(&inst.kind);
        let paths = stage.and_then(|s| s.workspace(&inst.params).ok()).unwrap_or_default();
        let upstream_outs: Vec<String> = inst.inputs.iter().flat_map(|&u| outs[u].iter().cloned()).collect();
        let reads_upstream = paths.deps.iter().any(|d| upstream_outs.iter().any(|o| workspace::overlap(d, o)));
        let upstream: Option<Vec<String>> = inst.inputs.iter().map(|&u| recipes[u].clone()).collect();
        let fingerprint = || {
            if reads_upstream {
                return Some(Value::Null);
            }
            stage?.fingerprint(&inst.params, &plan.workdir).ok()
        };
        let recipe = match (which[i], upstream) {
            (true, Some(upstream)) => fingerprint().map(|f| KeyParts::of(plan, i, &upstream, f).key()),
            _ => None,
        };
        recipes.push(recipe);
        outs.push(upstream_outs.into_iter().chain(paths.outs).collect());
    }
    recipes
}

/// Under the cache: the jobs' logs.
pub const LOGS: &str = "logs";

fn dir(store: &Store) -> PathBuf {
    store.root().join("jobs")
}

fn path(store: &Store, recipe: &str) -> PathBuf {
    dir(store).join(format!("{recipe}.json"))
}

/// Where the job computing `recipe` writes its output, relative to the cache (run records name it so).
pub fn log_name(recipe: &str) -> String {
    in_logs(&format!("{recipe}.log"))
}

/// The name, relative to the cache, of the file `file` in the logs directory.
pub fn in_logs(file: &str) -> String {
    format!("{LOGS}/{file}")
}

pub fn log_path(store: &Store, recipe: &str) -> PathBuf {
    store.root().join(log_name(recipe))
}

/// The log of the cluster job that last computed (or tried to compute) each instance
/// marked in `which`, where there is one: `log_name`s, for the run record and `pipe show`.
pub fn logs(plan: &Plan, registry: &Registry, store: &Store, which: &[bool]) -> Vec<Option<String>> {
    // A cache no cluster job has used: no fingerprints to take.
    if !store.root().join(LOGS).is_dir() {
        return vec![None; which.len()];
    }
    let log = |recipe: String| Some(log_name(&recipe)).filter(|name| store.root().join(name).exists());
    recipes(plan, registry, which).into_iter().map(|recipe| recipe.and_then(log)).collect()
}

/// Whether any job is recorded (live or not).
pub fn any(store: &Store) -> bool {
    !recorded(store).is_empty()
}

/// The recipes of all recorded jobs.
pub fn recorded(store: &Store) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir(store)) else { return Vec::new() };
    entries.flatten().filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string)).collect()
}

pub fn load(store: &Store, recipe: &str) -> Result<Option<JobRecord>, Error> {
    let path = path(store, recipe);
    // Read without a prior exists(): another run may forget the record meanwhile.
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path)(e)),
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(Error::corrupt(&path)),
    }
}

pub fn save(store: &Store, recipe: &str, record: &JobRecord) -> Result<(), Error> {
    atomic::write_json(&path(store, recipe), record).map(drop)
}

/// Forgets the record of `recipe`; given `job`, only if it still names that job (a later
/// run may have replaced it). The caller holds the submit lock, so that no run replaces
/// the record between the check and the removal.
pub fn forget(store: &Store, recipe: &str, job: Option<&str>) -> Result<(), Error> {
    match load(store, recipe) {
        Ok(Some(r)) if job.is_none_or(|j| r.job == j) => store::remove(&path(store, recipe)),
        Ok(_) => Ok(()),
        // An unreadable record is as good as none: the next submission rewrites it.
        Err(_) => store::remove(&path(store, recipe)),
    }
}

/// Writes `key` into the record of `recipe` if it still names `job`: the job learned the
/// key on its node, and `pipe gc` keeps the artifact until a run has recorded it.
pub fn learned(store: &Store, recipe: &str, job: &str, key: &str) -> Result<(), Error> {
    let _submitting = lock_submissions(store)?;
    match load(store, recipe)? {
        Some(record) if record.job == job && record.key.as_deref() != Some(key) => {
            save(store, recipe, &JobRecord { key: Some(key.to_string()), ..record })
        }
        _ => Ok(()),
    }
}

/// The keys of the recorded jobs' artifacts, where known: no run record names them yet.
pub fn recorded_keys(store: &Store) -> Vec<String> {
    // An unreadable record names nothing; its job's artifact goes as an unreferenced one would.
    recorded(store).iter().filter_map(|recipe| load(store, recipe).ok().flatten()?.key).collect()
}

/// Held while a run reads the records and submits: a second run then sees the first's jobs.
pub struct SubmitLock {
    _file: File,
}

pub fn lock_submissions(store: &Store) -> Result<SubmitLock, Error> {
    let dir = dir(store);
    std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    let path = dir.join("submit.lock");
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(Error::io(&path))?;
    file.lock().map_err(Error::io(&path))?;
    Ok(SubmitLock { _file: file })
}
