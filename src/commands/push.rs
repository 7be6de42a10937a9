//! `pipe push`: upload artifacts to the remote cache.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use pipe_stages::Registry;

use crate::probe::probe;
use crate::record;
use crate::remote::config::{self, RemoteArg};
use crate::remote::Remote;
use crate::store::{Artifact, Store};
use crate::Error;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe push pipelines/final.yaml                      the artifacts the pipeline resolves to now
  pipe push pipelines/final.yaml --stage train -j 16
  pipe push --run latest                              the artifacts of one recorded run
  pipe push --all --remote=file:///mnt/usb/pipe-cache everything in the local store")]
pub struct Args {
    /// Pipeline file: push the artifacts its stages resolve to
    #[arg(required_unless_present_any = ["run", "all"])]
    pub file: Option<PathBuf>,
    /// Only this stage (or instance) and its upstream; repeatable
    #[arg(long = "stage", value_name = "STAGE", requires = "file")]
    pub stages: Vec<String>,
    /// Push the artifacts of a recorded run (id, unique prefix or `latest`)
    #[arg(long, value_name = "RUN", conflicts_with_all = ["file", "all"])]
    pub run: Option<String>,
    /// Push every artifact in the local store
    #[arg(long, conflicts_with = "file")]
    pub all: bool,
    #[command(flatten)]
    pub remote: RemoteArg,
    /// Transfers at once [default: `remote.jobs`, else 8]
    #[arg(short = 'j', long, value_name = "N", value_parser = super::at_once)]
    pub jobs: Option<usize>,
    /// Override a value as `pipe run --set` would
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "file")]
    pub sets: Vec<String>,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    let settings = config::required(&config::project_dir(args.file.as_deref()), args.remote.remote.as_deref())?;
    let store = Store::new(cache)?;
    let (artifacts, missing) = if let Some(run) = &args.run {
        of_run(&store, run)?
    } else if args.all {
        every_object(&store)?
    } else {
        let file = args.file.as_deref().unwrap_or(Path::new(""));
        of_pipeline(file, &args.stages, &args.sets, &store)?
    };
    let remote = Remote::open(&settings, args.jobs, true)?;
    // What is there goes up first; then the missing ones make the push fail, so CI sees it.
    let report = remote.push(&artifacts)?;
    println!("{} artifact(s) pushed to {}, {} already there", report.moved, remote.location, report.present);
    match missing {
        0 => Ok(()),
        n => Err(Error::Failed {
            message: format!("{n} artifact(s) not pushed: not in the store (named above)"),
            config: false,
        }),
    }
}

/// The artifacts a recorded run made (failed stages made none) that the store still
/// holds, and how many it no longer does (named).
fn of_run(store: &Store, run: &str) -> Result<(Vec<Artifact>, usize), Error> {
    let record = record::find(store, run)?;
    let made = record.stages.iter().filter(|s| s.artifact.is_some());
    in_store(store, made.filter_map(|s| Some((s.instance.as_str(), s.key.as_deref()?))))
}

/// The artifacts a pipeline's (selected) instances resolve to now, and how many have none
/// (stale ones, named).
fn of_pipeline(
    file: &Path,
    stages: &[String],
    sets: &[String],
    store: &Store,
) -> Result<(Vec<Artifact>, usize), Error> {
    let registry = Registry::builtin();
    let plan = super::load(file, sets, &registry)?;
    let selection = plan.select(stages, false)?;
    let (mut artifacts, mut missing, mut missed) = (Vec::new(), 0, HashSet::new());
    for (inst, p) in plan.instances.iter().zip(probe(&plan, &registry, store, &selection.run)?) {
        let Some(p) = p else { continue };
        match (p.artifact(), p.waits_for()) {
            (Some(artifact), _) => artifacts.push(artifact.clone()),
            (None, Some(what)) => {
                missing += 1;
                let checkout =
                    if p.pending.is_empty() { String::new() } else { format!(" (`pipe checkout {}`)", file.display()) };
                eprintln!("{}: not pushed: its key waits for {what}{checkout}", inst.name)
            }
            (None, _) => {
                // Instances sharing a key share its artifact: counted once, as pushed ones are.
                if p.parts.as_ref().is_none_or(|parts| missed.insert(parts.key())) {
                    missing += 1;
                }
                eprintln!(
                    "{} has no artifact under its current key (stale, or a stage that runs every time): not pushed; \
                     `pipe run` it first, or `pipe push --run latest` for what the last run made",
                    inst.name
                )
            }
        }
    }
    Ok((artifacts, missing))
}

fn every_object(store: &Store) -> Result<(Vec<Artifact>, usize), Error> {
    let keys = store.keys()?;
    in_store(store, keys.iter().map(|k| ("--all", k.as_str())))
}

/// The artifacts of `keys` (each with what asked for it) that the store holds, and how
/// many it does not (each named): removed by `pipe gc`, or found corrupt and quarantined.
fn in_store<'k>(
    store: &Store,
    keys: impl Iterator<Item = (&'k str, &'k str)>,
) -> Result<(Vec<Artifact>, usize), Error> {
    let (mut artifacts, mut missing) = (Vec::new(), 0);
    for (what, key) in keys {
        match store.lookup(key)? {
            Some(artifact) => artifacts.push(artifact),
            None => {
                missing += 1;
                eprintln!("{what}: object {key} is not in the store (removed by `pipe gc`, or quarantined as corrupt): not pushed");
            }
        }
    }
    Ok((artifacts, missing))
}
