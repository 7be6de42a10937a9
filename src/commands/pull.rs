//! `pipe pull`: download the artifacts a pipeline resolves to, so `pipe run` finds them cached.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pipe_stages::Registry;

use crate::probe::probe_via;
use crate::remote::config::{self, RemoteArg};
use crate::remote::entry::Entry;
use crate::remote::Remote;
use crate::store::Store;
use crate::{workspace, Error};

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
    // supply: the plan is walked in order, asking the remote for each key it reaches.
    let entries: RefCell<BTreeMap<String, Entry>> = RefCell::new(BTreeMap::new());
    let lookup = |key: &str| -> Result<Option<String>, Error> {
        let entry = remote.lookup(key)?;
        let hash = entry.as_ref().map(|e| e.artifact.clone());
        entries.borrow_mut().extend(entry.map(|e| (key.to_string(), e)));
        Ok(hash)
    };
    let probes = probe_via(&plan, &registry, &store, &selection.run, Some(&lookup))?;
    let (mut wanted, mut local) = (Vec::new(), 0);
    for (inst, p) in plan.instances.iter().zip(&probes) {
        let Some(p) = p else { continue };
        match (&p.remote, p.artifact(), &p.parts) {
            (_, Some(_), _) => local += 1,
            (Some(_), None, Some(parts)) => wanted.extend(entries.borrow().get(&parts.key()).cloned()),
            _ => eprintln!("{} is on neither side: `pipe run` computes it", inst.name),
        }
    }
    let _shared = store.lock_cache(false)?;
    let report = remote.pull(&store, &wanted)?;
    let present = local + report.present;
    println!("{} artifact(s) pulled from {}, {present} already in the store", report.moved, remote.location);
    // The pulled artifacts' outs belong in the workspace, as after a run.
    let probes = crate::probe::probe(&plan, &registry, &store, &selection.run)?;
    let found: Vec<_> = probes.iter().enumerate().filter_map(|(i, p)| Some((i, p.as_ref()?.artifact()?))).collect();
    workspace::restore(&plan, &registry, &store, &found, false, &|line| eprintln!("{line}")).map(drop)
}
