//! The default executor: the instances run on `jobs` threads of this process.

use super::{jobs, slurm, Executor, Finished, Work};
use crate::probe::probe;
use crate::runner::Runner;
use crate::Error;

pub struct Local {
    pub jobs: usize,
}

impl Executor for Local {
    fn execute(&self, w: &Work) -> Result<Finished, Error> {
        // Computing here what a cluster job is about to compute would waste the job's work.
        // Probing costs a pass over the deps, so only when jobs were ever recorded.
        let mut busy: Vec<String> = Vec::new();
        if jobs::any(w.store) {
            let probes = probe(w.plan, w.registry, w.store, &w.selection.run)?;
            let live = slurm::computing(w.plan, w.registry, w.store, &probes)?;
            for (job, inst) in live.iter().zip(&w.plan.instances) {
                if let Some((record, state)) = job {
                    busy.push(format!("{} (job {}, {})", inst.name, record.job, state.describe()));
                }
            }
        }
        if !busy.is_empty() {
            return Err(Error::Busy(format!(
                "Slurm jobs are computing {}; `pipe run {} --executor slurm` follows them",
                busy.join(", "),
                w.plan.file.display()
            )));
        }
        Ok(Finished::All(Runner { w, jobs: self.jobs }.run()))
    }
}
