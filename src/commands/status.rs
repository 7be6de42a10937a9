//! `pipe status`: which instances would run, and with `--why`, which key component changed.

use std::path::{Path, PathBuf};

use pipe_stages::Registry;

use crate::executor::slurm;
use crate::lockfile;
use crate::probe::{probe_via, RemoteLookup, State};
use crate::remote::config::{self, RemoteArg};
use crate::remote::Remote;
use crate::store::Store;
use crate::table::short;
use crate::{why, Error};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe status pipelines/final.yaml
  pipe status pipelines/final.yaml --why
  pipe status pipelines/final.yaml --why --set train.dropout=0.2")]
pub struct Args {
    /// Pipeline file
    pub file: PathBuf,
    /// For each stale stage, name the param, dep, seed, code version or upstream that changed
    #[arg(long)]
    pub why: bool,
    /// Override a value as `pipe run --set` would: STAGE.KEY=VALUE or params.KEY=VALUE
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub remote: RemoteArg,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    let registry = Registry::builtin();
    let plan = super::load(&args.file, &args.sets, &registry)?;
    let store = Store::new(cache)?;
    let remote = match args.remote.remote.as_deref() {
        Some(flag) => Some(config::required(&config::project_dir(Some(&args.file)), Some(flag))?),
        None => None,
    };
    let remote = remote.map(|settings| Remote::open(&settings, None, false)).transpose()?;
    let lookup = |key: &str| Ok(remote.as_ref().map(|r| r.lookup(key)).transpose()?.flatten().map(|e| e.artifact));
    let all = vec![true; plan.instances.len()];
    let probes = probe_via(&plan, &registry, &store, &all, remote.as_ref().map(|_| &lookup as RemoteLookup))?;
    let lock = lockfile::load(&lockfile::path_for(&args.file))?;
    let live = slurm::computing(&plan, &registry, &store, &probes)?;
    let mut stale = 0;
    let mut out = String::new();
    for ((inst, p), job) in plan.instances.iter().zip(&probes).zip(&live) {
        let Some(p) = p else { continue };
        let (word, key) = match &p.state {
            State::Fresh(a) => ("fresh", short(&a.key).to_string()),
            State::Stale { key } => ("stale", key.as_deref().map(short).unwrap_or("-").to_string()),
            State::Broken(_) => ("broken", "-".to_string()),
        };
        if !matches!(p.state, State::Fresh(_)) {
            stale += 1;
        }
        if remote.is_some() {
            let place = match (p.artifact().is_some(), p.remote.is_some()) {
                (true, true) => "both",
                (true, false) => "local",
                (false, true) => "remote",
                (false, false) => "missing",
            };
            out.push_str(&format!("{place:<8}"));
        }
        let job =
            job.as_ref().map(|(r, state)| format!("  (slurm job {}: {})", r.job, state.describe())).unwrap_or_default();
        out.push_str(&format!("{word:<7}{key:<14}{}{job}\n", inst.name));
        if args.why {
            for reason in why::reasons(p, lock.stages.get(&inst.name), &store, &registry)? {
                out.push_str(&format!("{:21}- {reason}\n", ""));
            }
        }
    }
    print!("{out}");
    println!("{stale} of {} stage instance(s) stale", plan.instances.len());
    Ok(())
}
