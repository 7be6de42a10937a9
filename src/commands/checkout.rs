//! `pipe checkout`: put the declared outs of cached stages back into the workspace.

use std::path::{Path, PathBuf};

use pipe_stages::Registry;

use crate::plan::Plan;
use crate::probe::{probe, Probe};
use crate::store::Store;
use crate::workspace::{self, Action};
use crate::Error;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe checkout pipelines/final.yaml
  pipe checkout pipelines/final.yaml --stage counts --force")]
pub struct Args {
    /// Pipeline file
    pub file: PathBuf,
    /// Only this stage's (or instance's) outs; repeatable
    #[arg(long = "stage", value_name = "STAGE")]
    pub stages: Vec<String>,
    /// Overwrite outs that were changed by hand
    #[arg(long)]
    pub force: bool,
    /// Override a value as `pipe run --set` would: STAGE.KEY=VALUE or params.KEY=VALUE
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    let registry = Registry::builtin();
    let plan = super::load(&args.file, &args.sets, &registry)?;
    let selection = plan.select(&args.stages, false)?;
    let store = Store::new(cache)?;
    let say = |line: &str| eprintln!("{line}");
    let (mut restored, mut done) = (Vec::new(), vec![false; plan.instances.len()]);
    // A stage reading an upstream's out has its key once that out is back: restore it too,
    // then look again until nothing more comes back.
    let probes = loop {
        let probes = probe(&plan, &registry, &store, &selection.run)?;
        let wanted = wanted(&plan, &probes, &selection.targets);
        let found: Vec<_> = (probes.iter().enumerate())
            .filter(|&(i, _)| wanted[i] && !done[i])
            .filter_map(|(i, p)| Some((i, p.as_ref()?.artifact()?)))
            .collect();
        for &(i, _) in &found {
            done[i] = true;
        }
        let now = workspace::restore(&plan, &registry, &store, &found, args.force, &say)?;
        let changed = now.iter().any(workspace::Restored::changed);
        restored.extend(now);
        if !changed {
            break probes;
        }
    };
    for (i, p) in probes.iter().enumerate().filter(|&(i, _)| selection.targets[i]) {
        let Some(p) = p else { continue };
        if p.artifact().is_some() || workspace::declared_outs(&registry, &plan, i)?.is_empty() {
            continue;
        }
        let name = &plan.instances[i].name;
        match p.waits_for() {
            Some(what) => eprintln!("{name}: its key waits for {what}, which checkout could not put back"),
            None => eprintln!("{name} is not in the store: `pipe run` or `pipe pull` it first"),
        }
    }
    let count = |a: Action| restored.iter().filter(|r| r.action == a).count();
    println!(
        "{} restored, {} overwritten, {} already current, {} changed by hand and kept",
        count(Action::Restored),
        count(Action::Overwritten),
        count(Action::Current),
        count(Action::Modified)
    );
    if count(Action::Modified) > 0 {
        return Err(Error::Failed {
            message: "some outs were changed by hand and kept; `pipe checkout --force` overwrites them".into(),
            config: false,
        });
    }
    Ok(())
}

/// The instances whose outs checkout puts back: the targets, and the upstreams whose outs
/// a target's key waits for, at any depth (an upstream's key may wait for its own upstream's).
fn wanted(plan: &Plan, probes: &[Option<Probe>], targets: &[bool]) -> Vec<bool> {
    let (mut wanted, mut unknown) = (targets.to_vec(), targets.to_vec());
    // Downstream first: each instance is later in the plan than its upstreams.
    for (i, p) in probes.iter().enumerate().rev() {
        let Some(p) = p.as_ref().filter(|p| unknown[i] && p.artifact().is_none()) else { continue };
        for &u in &plan.instances[i].inputs {
            unknown[u] = true;
        }
        for &u in &p.waits_on {
            wanted[u] = true;
        }
    }
    wanted
}
