//! Executors: where the stale instances of a plan are computed. The planner decides
//! what is stale and the store what is done; an executor only turns a selection into
//! one outcome per instance. `local` computes on threads of this process; `slurm`
//! submits a job per stale instance. Another engine (Kubernetes jobs, Ray) is one
//! more implementation of [`Executor`] and one more [`ExecutorKind`].

use pipe_stages::Registry;
use serde::Deserialize;

use crate::plan::{Plan, Selection};
use crate::progress::Reporter;
use crate::runner::{Outcome, Progress, RemoteRead};
use crate::store::Store;
use crate::Error;

pub mod jobs;
pub mod local;
pub mod slurm;
pub mod slurm_client;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// Threads of this process
    Local,
    /// One Slurm job per stale instance, over a cache on a shared filesystem
    Slurm,
}

/// The environment variable that picks the executor when the command line does not.
pub const ENV: &str = "PIPE_EXECUTOR";

impl ExecutorKind {
    /// `--executor`, else `$PIPE_EXECUTOR`, else the pipeline's `executor:`, else local.
    pub fn choose(flag: Option<ExecutorKind>, plan: &Plan) -> Result<ExecutorKind, Error> {
        if let Some(kind) = flag {
            return Ok(kind);
        }
        match std::env::var(ENV) {
            Ok(value) if !value.is_empty() => <ExecutorKind as clap::ValueEnum>::from_str(&value, true).map_err(|_| {
                Error::Config(format!(
                    "${ENV}={value}: unknown executor{}; known: local, slurm",
                    crate::suggest::hint(&value, ["local", "slurm"])
                ))
            }),
            _ => Ok(plan.executor.unwrap_or(ExecutorKind::Local)),
        }
    }
}

/// What an executor is asked to do.
pub struct Work<'a> {
    pub plan: &'a Plan,
    pub registry: &'a Registry,
    pub store: &'a Store,
    pub reporter: &'a Reporter,
    pub selection: &'a Selection,
    /// Recompute the targeted instances even when their artifact exists.
    pub force: bool,
    /// Called with the outcomes so far (running instances as interrupted) when a stop request
    /// finds stages still running here after a grace period: built-in stages cannot be
    /// stopped from outside, so it records the run and ends the process.
    pub on_interrupt: Option<&'a (dyn Fn(Vec<Option<Outcome>>) + Sync)>,
    /// Called with each instance and its outcome as it is done here, from the worker that
    /// did it: the run's journal, so a SIGKILL keeps what was done.
    pub on_progress: Option<Progress<'a>>,
    /// A remote cache consulted before a stale key is computed here (`pipe run --remote`).
    pub remote: Option<&'a RemoteRead<'a>>,
}

pub enum Finished {
    /// An outcome for each selected instance, as `Runner::run` gives.
    All(Vec<Option<Outcome>>),
    /// The work was handed over (`--detach`) and goes on without this process; the
    /// error names the instances that could not be submitted.
    Detached(Result<(), Error>),
}

pub trait Executor {
    fn execute(&self, work: &Work) -> Result<Finished, Error>;
}
