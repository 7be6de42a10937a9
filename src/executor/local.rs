//! The default executor: the instances run on `jobs` threads of this process.

use super::{Executor, Finished, Work};
use crate::runner::Runner;
use crate::Error;

pub struct Local {
    pub jobs: usize,
}

impl Executor for Local {
    fn execute(&self, w: &Work) -> Result<Finished, Error> {
        let runner = Runner {
            plan: w.plan,
            registry: w.registry,
            store: w.store,
            reporter: w.reporter,
            jobs: self.jobs,
            force: w.force,
        };
        Ok(Finished::All(runner.run(w.selection)))
    }
}
