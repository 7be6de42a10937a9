//! One module per subcommand: its clap arguments and its body.

use std::path::Path;

use pipe_stages::Registry;

use crate::plan::{self, Plan};
use crate::spec::Pipeline;
use crate::{overrides, Error};

pub mod bench;
pub mod checkout;
pub mod dag;
pub mod diff;
pub mod gc;
pub mod job;
pub mod predict;
pub mod pull;
pub mod push;
pub mod run;
pub mod runs;
pub mod show;
pub mod status;
pub mod verify;

/// Parses a pipeline file, applies `--set`s and builds its plan: everything that
/// can be wrong with the file is reported here, before the cache is touched.
pub fn load(file: &Path, sets: &[String], registry: &Registry) -> Result<Plan, Error> {
    plan::build(&load_spec(file, sets)?, registry)
}

/// [`load`], then the checks `run` makes before anything runs (a model's limits, an out
/// two stages write, an unreadable dep) on every instance: what run would refuse, the
/// commands that report on the whole pipeline (status, show) refuse too.
pub fn load_checked(file: &Path, sets: &[String], registry: &Registry, cache: &Path) -> Result<Plan, Error> {
    let pipeline = load_spec(file, sets)?;
    let plan = plan::build(&pipeline, registry)?;
    crate::preflight::check(&pipeline, &plan, registry, &vec![true; plan.instances.len()], cache)?;
    Ok(plan)
}

/// The pipeline file (pipe's YAML or a `dvc.yaml`) with its `--set`s applied.
pub fn load_spec(file: &Path, sets: &[String]) -> Result<Pipeline, Error> {
    let parsed = sets.iter().map(|s| overrides::parse(s)).collect::<Result<Vec<_>, _>>()?;
    let (mut pipeline, notes) = crate::dvc::load_any(file, &parsed)?;
    for note in notes {
        eprintln!("{note}");
    }
    pipeline.params = crate::interpolate::params(&pipeline.params)
        .map_err(|m| Error::Config(format!("{}: `params`: {m}", pipeline.at_top("params"))))?;
    Ok(pipeline)
}

/// `-j N`: how many at once (stages, transfers); 0 would never start one.
pub fn at_once(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("0: nothing would ever start; give 1 or more".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number (1 or more)")),
    }
}
