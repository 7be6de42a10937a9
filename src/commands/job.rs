//! `pipe job` (hidden): what a cluster job runs. Computes exactly one instance from
//! the upstream artifacts already in the shared cache, under the key lock, as a local
//! run would; the submitting run records the result.

use std::path::{Path, PathBuf};

use pipe_stages::planned_at;
use pipe_stages::simd::Level;
use pipe_stages::Registry;

use crate::executor::{jobs, Work};
use crate::probe::{probe, State};
use crate::progress::Reporter;
use crate::record::Status;
use crate::runner::Runner;
use crate::store::Store;
use crate::Error;

#[derive(clap::Args)]
pub struct Args {
    /// Pipeline file (absolute: the job may start in another directory)
    pub file: PathBuf,
    /// The instance to compute, e.g. 'train[dropout=0.1]'
    pub instance: String,
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Recompute even when the artifact exists
    #[arg(long)]
    pub force: bool,
    /// The SIMD level the submitter planned at: `precision: auto` resolves as it
    /// did there, so the keys match whatever this node's CPU is
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    pub planned_at: Option<Level>,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| format!("no SIMD level `{s}`; one of {}", Level::names()))
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    if let Some(level) = args.planned_at {
        planned_at::set(level);
    }
    let registry = Registry::builtin();
    let plan = super::load(&args.file, &args.sets, &registry)?;
    let Some(i) = plan.instances.iter().position(|inst| inst.name == args.instance) else {
        return Err(Error::Config(format!("no instance `{}` in {}", args.instance, args.file.display())));
    };
    let selection = plan.select(std::slice::from_ref(&args.instance), false)?;
    let store = Store::new(cache)?;
    let _shared = store.lock_cache(false)?;
    // The job's dependencies guarantee its inputs; computing a missing one here would
    // duplicate another job's work behind the scheduler's back.
    let probes = probe(&plan, &registry, &store, &selection.run)?;
    for &u in &plan.instances[i].inputs {
        if !matches!(probes[u].as_ref().map(|p| &p.state), Some(State::Fresh(_))) {
            return Err(Error::Failed {
                message: format!("input `{}` has no artifact in {}", plan.instances[u].name, store.root().display()),
                config: false,
            });
        }
    }
    eprintln!(
        "pipe job: {} of {} on {} (SIMD level {}, planned at {})",
        args.instance,
        args.file.display(),
        crate::host::name(),
        pipe_stages::simd::level(),
        planned_at::level()
    );
    let reporter = Reporter::whole_output();
    let work = Work {
        plan: &plan,
        registry: &registry,
        store: &store,
        reporter: &reporter,
        selection: &selection,
        force: args.force,
        on_interrupt: None,
        on_progress: None,
        remote: None,
    };
    let outcomes = Runner { w: &work, jobs: 1 }.run();
    match &outcomes[i] {
        Some(o) if o.ok() => {
            let how = match o.status {
                Status::Cached => "found in the cache",
                Status::Adopted => "adopted from dvc.lock",
                _ => "computed",
            };
            let key = o.key.as_deref().unwrap_or_default();
            eprintln!("pipe job: {} {how}: key {key}", args.instance);
            let recipe = jobs::recipes(&plan, &registry, &selection.run).swap_remove(i);
            match (recipe, std::env::var("SLURM_JOB_ID")) {
                (Some(recipe), Ok(job)) => jobs::learned(&store, &recipe, &job, key),
                _ => Ok(()),
            }
        }
        o => Err(Error::Failed {
            message: o.as_ref().and_then(|o| o.error.clone()).unwrap_or_else(|| "not computed".into()),
            config: o.as_ref().is_some_and(|o| o.config_error),
        }),
    }
}
