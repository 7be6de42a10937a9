//! Which stale dvc.yaml instances a run would adopt from `dvc.lock` instead of running their
//! commands ([`pipe_stages::shell::adoptable`]), for `pipe status` and `pipe run --dry-run`,
//! which run nothing. Judged on the workspace as it is now: an upstream the run computes may
//! rewrite what a downstream entry was locked against.

use pipe_stages::shell::{self, LockError};

use crate::plan::Plan;
use crate::probe::{Probe, State};

/// What a run would make of an instance's `dvc.lock` entry.
#[derive(Debug)]
pub enum Adoption {
    /// Nothing to adopt: not a dvc.yaml stage, fresh, forced, or its entry is not current.
    None,
    /// Its entry is current: the run adopts its outs, unless the upstream instances named,
    /// which the run computes, change what it reads (none named: adopted).
    Current { unless: Vec<String> },
    /// Its `dvc.lock` cannot be read: the run warns and computes it.
    Unreadable(LockError),
}

/// `unless`'s words after what a run would do: ` unless running `prep` changes what it reads`.
pub fn proviso(unless: &[String]) -> String {
    match unless {
        [] => String::new(),
        _ => format!(
            " unless running {} changes what it reads",
            unless.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// For each instance of `plan` (in its order), what a run would make of its `dvc.lock` entry.
/// `forced`: whether the run recomputes instance `i` whatever it finds.
pub fn predict(plan: &Plan, probes: &[Option<Probe>], forced: &dyn Fn(usize) -> bool) -> Vec<Adoption> {
    let stale = |i: usize| probes[i].as_ref().is_some_and(|p| matches!(p.state, State::Stale { .. }));
    let mut out: Vec<Adoption> = Vec::with_capacity(plan.instances.len());
    for (i, inst) in plan.instances.iter().enumerate() {
        let adoption = match inst.dvc.as_ref().filter(|_| stale(i) && !forced(i)) {
            None => Adoption::None,
            Some(dvc) => match shell::adoptable(&inst.params, &plan.workdir, dvc) {
                Ok(false) => Adoption::None,
                Err(e) => Adoption::Unreadable(e),
                Ok(true) => {
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
                    Adoption::Current { unless }
                }
            },
        };
        out.push(adoption);
    }
    out
}
