//! The command line. Each subcommand's arguments and body live in `commands::<name>`;
//! a new subcommand is one more variant here and one more module there.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::{bench, checkout, dag, diff, gc, job, predict, pull, push, run, runs, show, status, verify};
use crate::Error;

const EXAMPLES: &str = "Examples:
  pipe run pipelines/final.yaml                 run what is stale, reuse the rest
  pipe run pipelines/final.yaml --set train.lr=3e-5 --stage calibrate
  pipe status pipelines/final.yaml --why        what is stale, and which input changed
  pipe diff                                     params, artifacts, metrics: last two runs
  pipe dag pipelines/final.yaml --format mermaid
  pipe predict \"a gorgeous, witty film\"         classify with the latest run's model
  pipe bench infer --model pipe-fixtures/tiny-bert";

#[derive(Parser)]
#[command(name = "pipe", version, about = "Runs ML pipelines declared in YAML as content-hashed DAGs", after_help = EXAMPLES)]
pub struct Cli {
    /// Artifact store [default: $PIPE_CACHE, else ./cache]
    #[arg(long, global = true, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the stale stages of a pipeline, reusing cached artifacts
    Run(run::Args),
    /// Show which stages are stale (--why: which param, dep or upstream changed)
    Status(status::Args),
    /// Print the pipeline's instance graph as text, Graphviz dot or Mermaid
    Dag(dag::Args),
    /// Compare two runs: keys, artifact hashes, params and metric deltas
    Diff(diff::Args),
    /// Show one stage's artifact: directory, files and metrics
    Show(show::Args),
    /// List recorded runs
    Runs(runs::Args),
    /// Upload artifacts to the remote cache
    Push(push::Args),
    /// Download the artifacts a pipeline resolves to from the remote cache
    Pull(pull::Args),
    /// Restore the declared outs of cached stages into the workspace
    Checkout(checkout::Args),
    /// Remove artifacts that no kept run references; with --remote, those on the remote the named pipelines do not use
    Gc(gc::Args),
    /// Re-hash stored artifacts against their manifests; --repair quarantines corrupt ones
    Verify(verify::Args),
    /// Classify sentences with a run's trained model and show the tokens behind each label
    Predict(predict::Args),
    /// Measure training or inference throughput of a hub model on SST-2 batches, or the matrix-product peak
    Bench(bench::Args),
    /// Compute one instance from upstream artifacts in the cache: what a cluster job runs
    #[command(hide = true)]
    Job(job::Args),
}

impl Cli {
    /// `--cache`, else `$PIPE_CACHE`, else `cache` in the current directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache.clone().unwrap_or_else(Cli::default_cache)
    }

    /// The cache without `--cache`: `$PIPE_CACHE`, else `cache` in the current directory.
    pub fn default_cache() -> PathBuf {
        std::env::var_os("PIPE_CACHE").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| "cache".into())
    }

    pub fn execute(self) -> Result<(), Error> {
        let cache = self.cache_dir();
        match self.command {
            Command::Run(args) => run::execute(args, &cache),
            Command::Status(args) => status::execute(args, &cache),
            Command::Dag(args) => dag::execute(args),
            Command::Diff(args) => diff::execute(args, &cache),
            Command::Show(args) => show::execute(args, &cache),
            Command::Runs(args) => runs::execute(args, &cache),
            Command::Push(args) => push::execute(args, &cache),
            Command::Pull(args) => pull::execute(args, &cache),
            Command::Checkout(args) => checkout::execute(args, &cache),
            Command::Gc(args) => gc::execute(args, &cache),
            Command::Verify(args) => verify::execute(args, &cache),
            Command::Predict(args) => predict::execute(args, &cache),
            Command::Bench(args) => bench::execute(args),
            Command::Job(args) => job::execute(args, &cache),
        }
    }
}
