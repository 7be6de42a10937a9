//! `pipe pull`: download the artifacts a pipeline resolves to, so `pipe run` finds them
//! cached, and record them as a run (`pipe gc` keeps what run records name).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use pipe_stages::Registry;

use crate::plan::Plan;
use crate::probe::probe_via;
use crate::record::{self, RunRecord, StageRecord, Status};
use crate::remote::config::{self, RemoteArg};
use crate::remote::entry::Entry;
use crate::remote::{Remote, RemoteError};
use crate::store::{Artifact, Store};
use crate::{lockfile, workspace, Error};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe pull pipelines/final.yaml
  pipe pull pipelines/final.yaml --stage evaluate --remote=https://cache.example/pipe -j 16")]
pub struct Args {
    /// Pipeline file
    pub file: PathBuf,
    /// Only this stage (or instance) and its upstream; repeatable
    #[arg(long = "stage", value_name = "STAGE")]
    pub stages: Vec<String>,
    #[command(flatten)]
    pub remote: RemoteArg,
    /// Transfers at once [default: `remote.jobs`, else 8]
    #[arg(short = 'j', long, value_name = "N", value_parser = super::at_once)]
    pub jobs: Option<usize>,
    /// Override a value as `pipe run --set` would
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    let settings = config::required(&config::project_dir(Some(&args.file)), args.remote.remote.as_deref())?;
    let registry = Registry::builtin();
    let plan = super::load(&args.file, &args.sets, &registry)?;
    let selection = plan.select(&args.stages, false)?;
    let store = Store::new(cache)?;
    let remote = Remote::open(&settings, args.jobs, false)?;
    // Keys downstream depend on upstream artifact hashes, which the remote's entries
    // supply: the plan is walked in order, asking the remote for each key it reaches. A
    // stage reading an upstream's out in the workspace has a key only once that out is
    // back, so the walk repeats after each download until it brings nothing new.
    let entries: RefCell<BTreeMap<String, Entry>> = RefCell::new(BTreeMap::new());
    let lookup = remote.recorder(&entries);
    // An upstream left on the remote still gives the keys downstream its artifact hash.
    let known =
        |key: &str| -> Result<Option<String>, Error> { Ok(entries.borrow().get(key).map(|e| e.artifact.clone())) };
    let started = SystemTime::now();
    let _shared = store.lock_cache(false)?;
    let (mut pulled, mut moved) = (BTreeSet::new(), 0);
    // Entries whose files are not all there, by key: what is missing.
    // Key: why it was not pulled, and what to do about it.
    let mut unpulled: BTreeMap<String, (String, &str)> = BTreeMap::new();
    loop {
        let probes = probe_via(&plan, &registry, &store, &selection.run, Some(&lookup))?;
        // By key: instances that share one share its download, and its key lock.
        let mut wanted: BTreeMap<String, Entry> = BTreeMap::new();
        let mut neither = Vec::new();
        for (inst, p) in plan.instances.iter().zip(&probes) {
            let Some(p) = p else { continue };
            match (&p.remote, p.artifact(), &p.parts) {
                (_, Some(_), _) => {}
                (Some(_), None, Some(parts)) => {
                    let key = parts.key();
                    if !unpulled.contains_key(&key) {
                        wanted.extend(entries.borrow().get(&key).cloned().map(|e| (key, e)));
                    }
                }
                _ => neither.push(inst.name.as_str()),
            }
        }
        // An entry whose files are not all there fails before anything of it is downloaded;
        // the others still come down.
        let candidates: Vec<Entry> = wanted.into_values().collect();
        let gaps = remote.incomplete(&candidates.iter().collect::<Vec<_>>())?;
        let mut wanted = Vec::new();
        for (entry, gap) in candidates.into_iter().zip(gaps) {
            match gap {
                Some(gap) => drop(unpulled.insert(entry.key, (gap.to_string(), PUSH_AGAIN))),
                None => wanted.push(entry),
            }
        }
        let (report, failed) = remote.pull(&store, &wanted)?;
        moved += report.moved;
        for (key, e) in failed {
            unpulled.insert(key, (e.to_string(), remedy(&e)));
        }
        pulled.extend(wanted.into_iter().map(|e| e.key).filter(|key| !unpulled.contains_key(key)));
        // The pulled artifacts' outs belong in the workspace, as after a run; the outs put
        // back give the stages reading them their keys.
        let probes = probe_via(&plan, &registry, &store, &selection.run, Some(&known))?;
        let found: Vec<_> = probes.iter().enumerate().filter_map(|(i, p)| Some((i, p.as_ref()?.artifact()?))).collect();
        let restored = workspace::restore(&plan, &registry, &store, &found, false, &|line| eprintln!("{line}"))?;
        if report.moved > 0 || restored.iter().any(workspace::Restored::changed) {
            continue;
        }
        for name in neither {
            eprintln!("{name} is on neither side: `pipe run` computes it");
        }
        // By key, as pushes count: instances sharing one share its artifact.
        let present = found.iter().map(|(_, a)| &a.key).filter(|k| !pulled.contains(*k)).collect::<BTreeSet<_>>().len();
        println!("{moved} artifact(s) pulled from {}, {present} already in the store", remote.location);
        if moved > 0 {
            let pulled: BTreeSet<&str> = pulled.iter().map(String::as_str).collect();
            record_pull(&args, &plan, &registry, &store, started, &found, &pulled, unpulled.is_empty())?;
        }
        if unpulled.is_empty() {
            return Ok(());
        }
        for (key, (why, _)) in &unpulled {
            eprintln!("error: key {key}: not pulled: {why}");
        }
        let remedies: BTreeSet<&str> = unpulled.values().map(|(_, remedy)| *remedy).collect();
        return Err(Error::Failed {
            message: format!(
                "{} artifact(s) not pulled from {} (above): {}",
                unpulled.len(),
                remote.location,
                remedies.into_iter().collect::<Vec<_>>().join("; ")
            ),
            config: false,
        });
    }
}

/// What to do about an artifact the remote lacks files of, or holds damaged.
const PUSH_AGAIN: &str =
    "`pipe push` from a store that has them uploads the missing files again, else `pipe run` computes them";

/// What to do about a key that failed to come down with `e`: the remote's fault, or this machine's.
fn remedy(e: &Error) -> &'static str {
    match e {
        Error::Io { .. } => "writing into the cache here failed (above): once that is mended (a full disk freed), `pipe pull` again fetches them",
        Error::Remote(RemoteError::Unreachable { .. }) => "`pipe pull` again once the remote answers",
        // A push skips a blob there at the right size: the damaged one must go first.
        Error::Remote(RemoteError::Integrity(_)) => {
            "delete each damaged blob and its entry on the remote (named above), then `pipe push` from a store that \
             has the artifact uploads both again, else `pipe run` computes it"
        }
        _ => PUSH_AGAIN,
    }
}

/// A run record naming what the pipeline resolves to now, so that `pipe gc` keeps what
/// was pulled (it keeps what records name), and the lock file, as `pipe run --remote`
/// would write them: pulled artifacts `pulled`, the others `cached`; not `ok` when an
/// artifact could not be pulled.
#[allow(clippy::too_many_arguments)]
fn record_pull(
    args: &Args,
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    started: SystemTime,
    found: &[(usize, &Artifact)],
    pulled: &BTreeSet<&str>,
    ok: bool,
) -> Result<(), Error> {
    let mut stages = Vec::new();
    for &(i, artifact) in found {
        let status = if pulled.contains(artifact.key.as_str()) { Status::Pulled } else { Status::Cached };
        stages.push(StageRecord {
            key: Some(artifact.key.clone()),
            artifact: Some(artifact.hash.clone()),
            metrics: artifact.metrics()?,
            ..StageRecord::of(&plan.instances[i], registry, status)
        });
    }
    let record = RunRecord {
        id: record::new_id(started),
        pipeline: plan.name.clone(),
        file: args.file.clone(),
        started: record::timestamp(started),
        seconds: started.elapsed().map_or(0.0, |d| d.as_secs_f64()),
        ok,
        interrupted: false,
        in_progress: false,
        overrides: args.sets.clone(),
        selected: args.stages.clone(),
        stages,
    };
    record.save(store)?;
    lockfile::record(plan, registry, &args.file, &record)
}
