//! Which stale dvc.yaml instances a run would adopt from `dvc.lock` instead of running their
//! commands ([`pipe_stages::shell::adoptable`]), for `pipe status` and `pipe run --dry-run`,
//! which run nothing. Judged on the workspace as it is now: an upstream the run computes may
//! rewrite what a downstream entry was locked against.

use pipe_stages::shell::{self, LockError, Verdict};
use pipe_stages::workspace::within;
use pipe_stages::Registry;

use crate::plan::Plan;
use crate::probe::{Probe, State};
use crate::{workspace, Error};

/// What a run would make of an instance's `dvc.lock` entry.
#[derive(Debug)]
pub enum Adoption {
    /// Nothing to adopt: not a dvc.yaml stage, fresh, forced, or its entry is not current.
    None,
    /// Its entry is current: the run adopts its outs, unless the upstream instances named,
    /// which the run computes, change what it reads (none named: adopted).
    Current { unless: Vec<String> },
    /// Its entry is current but for some deps, all outs of the upstream instances named, which
    /// the run computes or puts back first and which may bring them back as the entry records
    /// them (an out edited by hand, made again).
    After { upstream: Vec<String> },
    /// Its `dvc.lock` cannot be read: the run warns and computes it.
    Unreadable(LockError),
}

/// `names` quoted and joined: `` `prep`, `train` ``.
fn listed(names: &[String]) -> String {
    names.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ")
}

/// `unless`'s words after what a run would do: ` unless running `prep` changes what it reads`.
pub fn proviso(unless: &[String]) -> String {
    match unless {
        [] => String::new(),
        _ => format!(" unless running {} changes what it reads", listed(unless)),
    }
}

impl Adoption {
    /// What a run would do, for a dry run's WOULD column; None where it runs as any stage.
    pub fn would(&self) -> Option<String> {
        match self {
            Adoption::Current { unless } => Some(format!("adopt from dvc.lock{}", proviso(unless))),
            Adoption::After { upstream } => {
                Some(format!("run, or adopt from dvc.lock once {} is done", listed(upstream)))
            }
            _ => None,
        }
    }

    /// The note `pipe status` prints under the instance.
    pub fn note(&self) -> Option<String> {
        match self {
            Adoption::None => None,
            Adoption::Unreadable(e) => Some(format!("{e}: nothing is adopted from it; `pipe run` runs the command")),
            Adoption::Current { unless } => Some(format!(
                "dvc.lock shows DVC's last run current: `pipe run` adopts its outs without running the command{}",
                proviso(unless)
            )),
            Adoption::After { upstream } => Some(format!(
                "dvc.lock is judged once {} is done: `pipe run` adopts its outs if DVC's last run is current then, \
                 and runs the command otherwise",
                listed(upstream)
            )),
        }
    }
}

/// For each instance of `plan` (in its order), what a run would make of its `dvc.lock` entry.
/// `forced`: whether the run recomputes instance `i` whatever it finds.
pub fn predict(
    plan: &Plan,
    registry: &Registry,
    probes: &[Option<Probe>],
    forced: &dyn Fn(usize) -> bool,
) -> Result<Vec<Adoption>, Error> {
    let stale = |i: usize| probes[i].as_ref().is_some_and(|p| matches!(p.state, State::Stale { .. }));
    let mut out: Vec<Adoption> = Vec::with_capacity(plan.instances.len());
    for (i, inst) in plan.instances.iter().enumerate() {
        let Some(dvc) = inst.dvc.as_ref().filter(|_| stale(i) && !forced(i)) else {
            out.push(Adoption::None);
            continue;
        };
        // Inputs come first in the plan's order, so theirs are known.
        let mut unless = Vec::new();
        for &u in &inst.inputs {
            match &out[u] {
                Adoption::Current { unless: theirs } => unless.extend(theirs.iter().cloned()),
                _ if stale(u) => unless.push(plan.instances[u].name.clone()),
                _ => {}
            }
        }
        unless.sort();
        unless.dedup();
        let adoption = match shell::adoptable(&inst.params, &plan.workdir, dvc) {
            Ok(Verdict::Unchanged) => Adoption::Current { unless },
            Ok(Verdict::DepsDiffer(paths)) => remade_by(plan, registry, probes, i, &paths, &stale)?
                .map_or(Adoption::None, |upstream| Adoption::After { upstream }),
            Ok(Verdict::Changed) => Adoption::None,
            Err(e) => Adoption::Unreadable(e),
        };
        out.push(adoption);
    }
    Ok(out)
}

/// The upstream instances of instance `i` that a run computes or puts back before it, if
/// every one of `paths` lies in their declared outs: they may bring those deps back.
fn remade_by(
    plan: &Plan,
    registry: &Registry,
    probes: &[Option<Probe>],
    i: usize,
    paths: &[String],
    stale: &dyn Fn(usize) -> bool,
) -> Result<Option<Vec<String>>, Error> {
    let put_back = |u: usize| probes[i].as_ref().is_some_and(|p| p.waits_on.contains(&u));
    let mut first = Vec::new();
    for &u in plan.instances[i].inputs.iter().filter(|&&u| stale(u) || put_back(u)) {
        first.push((&plan.instances[u].name, workspace::declared_outs(registry, plan, u)?));
    }
    let mut by = Vec::new();
    for path in paths {
        let making: Vec<&String> =
            first.iter().filter(|(_, outs)| outs.iter().any(|out| within(path, out))).map(|(name, _)| *name).collect();
        if making.is_empty() {
            return Ok(None);
        }
        by.extend(making.into_iter().cloned());
    }
    by.sort();
    by.dedup();
    Ok(Some(by))
}
