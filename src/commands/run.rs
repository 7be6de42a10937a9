//! `pipe run`: run what is stale, reuse the rest, record the run.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use pipe_stages::{interrupt, Registry};

use crate::cli::Cli;
use crate::dvc::adoption::{self, Adoption};
use crate::executor::jobs;
use crate::executor::local::Local;
use crate::executor::slurm::{self, Slurm};
use crate::executor::slurm_client;
use crate::executor::{Executor, ExecutorKind, Finished, Work};
use crate::lockfile;
use crate::mutex::lock;
use crate::plan::{self, Instance, Plan, Selection};
use crate::preflight;
use crate::probe::{probe_via, RemoteLookup, State};
use crate::progress::Reporter;
use crate::record::{self, Journal, RunRecord, StageRecord, Status};
use crate::remote::config::{self, RemoteArg};
use crate::remote::Remote;
use crate::resources::Resources;
use crate::runner::{Outcome, RemoteRead};
use crate::store::{Artifact, Store};
use crate::table::{self, short};
use crate::{signals, Error};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe run pipelines/final.yaml
  pipe run pipelines/final.yaml --stage evaluate            evaluate and the stale part of its upstream
  pipe run pipelines/final.yaml --stage train --downstream --force
  pipe run pipelines/final.yaml --set train.lr=3e-5 --set params.model=sentence-transformers/all-MiniLM-L6-v2
  pipe run pipelines/ablations.yaml -j 2 --dry-run
  pipe run pipelines/ablations.yaml --executor slurm --resource time=4h --detach")]
pub struct Args {
    /// Pipeline file
    pub file: PathBuf,
    /// Run only this stage (or instance, e.g. 'train[dropout=0.1]') and what it needs; repeatable
    #[arg(long = "stage", value_name = "STAGE")]
    pub stages: Vec<String>,
    /// With --stage: also run everything that depends on the selected stages
    #[arg(long, requires = "stages")]
    pub downstream: bool,
    /// Recompute the selected stages even when cached (not their upstream)
    #[arg(long)]
    pub force: bool,
    /// Show what would run, run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Stages to run at once [default: number of cores]
    #[arg(short = 'j', long, value_name = "N", value_parser = super::at_once)]
    pub jobs: Option<usize>,
    /// Override a value: STAGE.KEY=VALUE or params.KEY=VALUE (VALUE is YAML); repeatable
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Where stale stages are computed [default: $PIPE_EXECUTOR, else the pipeline's `executor:`, else local]
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,
    /// Cluster resources for stages that set none: cpus, mem, time, gpus, partition, account, qos, extra (sbatch options: extra=--exclusive); repeatable
    #[arg(long = "resource", value_name = "KEY=VALUE")]
    pub resources: Vec<String>,
    /// With a cluster executor: submit the jobs, print their ids and return
    #[arg(long)]
    pub detach: bool,
    #[command(flatten)]
    pub remote: RemoteArg,
    /// Upload the run's artifacts to the remote afterwards (as `remote.write: true` does)
    #[arg(long)]
    pub push: bool,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    let started = SystemTime::now();
    let clock = Instant::now();
    let registry = Registry::builtin();
    let pipeline = super::load_spec(&args.file, &args.sets)?;
    let plan = plan::build(&pipeline, &registry)?;
    let selection = plan.select(&args.stages, args.downstream)?;
    preflight::check(&pipeline, &plan, &registry, &selection.run, cache)?;
    // Read again when outs are restored and at the end: one that does not parse stops the run here.
    lockfile::load(&plan.file)?;
    let store = Store::new(cache)?;
    let executor = executor(&args, &plan)?;
    let (remote, read, write) = open_remote(&args)?;
    let remote_read = remote.as_ref().filter(|_| read).map(|remote| RemoteRead {
        remote,
        required: args.remote.remote.is_some(),
        gave_up: AtomicBool::new(false),
    });
    if args.dry_run {
        return dry_run(&plan, &registry, &store, &selection, args.force, remote_read.as_ref());
    }
    let _shared = store.lock_cache(false)?;
    let reporter = Reporter::new();
    let push = remote.as_ref().filter(|_| write);
    let id = record::new_id(started);
    let finish = |outcomes: Vec<Option<Outcome>>| {
        let record = build_record(&args, &plan, &registry, &store, &id, (started, clock), &outcomes);
        record_run(&args, &plan, &registry, &store, push, record, clock, outcomes)
    };
    // What is done so far, kept as the run goes (see `Journal`).
    let none = vec![None; plan.instances.len()];
    let head = build_record(&args, &plan, &registry, &store, &id, (started, clock), &none);
    let journal = Mutex::new(Journal::new(RunRecord { in_progress: true, ok: false, ..head }));
    // Cluster jobs' logs of earlier attempts: a local run makes none.
    let logs = jobs::logs(&plan, &registry, &store, &selection.run);
    let progress = |i: usize, outcome: &Outcome| {
        // A stop request writes the final record itself: no in-progress one may follow it.
        if interrupt::requested().is_some() {
            return;
        }
        let stage = stage_record(&plan.instances[i], &registry, outcome, logs[i].clone());
        let made = matches!(outcome.status, Status::Ran | Status::Adopted | Status::Pulled);
        let added = lock(&journal).add(&store, &stage, made);
        if let Err(e) = added {
            reporter.line(&format!("warning: the run's record of what is done so far: {e}"));
        }
    };
    // Built-in stages still running after a stop request: record the run, end the process.
    let stop = |outcomes| {
        let code = finish(outcomes).map_or_else(
            |e| {
                eprintln!("error: {e}");
                e.exit_code()
            },
            |()| 0,
        );
        std::process::exit(code)
    };
    let work = Work {
        plan: &plan,
        registry: &registry,
        store: &store,
        reporter: &reporter,
        selection: &selection,
        force: args.force,
        on_interrupt: Some(&stop),
        on_progress: Some(&progress),
        remote: remote_read.as_ref(),
    };
    signals::graceful();
    match executor.execute(&work)? {
        Finished::All(outcomes) => finish(outcomes),
        Finished::Detached(submitted) => {
            println!("detached: `{}` follows the jobs to the end and records the run", follow_up(&args, cache));
            submitted
        }
    }
}

/// The command that follows a detached run's jobs: this one without `--detach`, on the
/// same cache, selection and `--set`s (their recipes name the jobs).
fn follow_up(args: &Args, cache: &Path) -> String {
    let mut words: Vec<String> = vec!["pipe".into()];
    if cache != Cli::default_cache() {
        words.extend(["--cache".into(), cache.display().to_string()]);
    }
    words.extend(["run".into(), args.file.display().to_string(), "--executor".into(), "slurm".into()]);
    for stage in &args.stages {
        words.extend(["--stage".into(), stage.clone()]);
    }
    if args.downstream {
        words.push("--downstream".into());
    }
    for set in &args.sets {
        words.extend(["--set".into(), set.clone()]);
    }
    words.iter().map(|w| slurm::shell_word(w)).collect::<Vec<_>>().join(" ")
}

/// The run record of `outcomes` (those not known yet are left out).
fn build_record(
    args: &Args,
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    id: &str,
    (started, clock): (SystemTime, Instant),
    outcomes: &[Option<Outcome>],
) -> RunRecord {
    let interrupted = interrupt::requested();
    let logs = jobs::logs(plan, registry, store, &outcomes.iter().map(Option::is_some).collect::<Vec<_>>());
    let stages: Vec<StageRecord> = plan
        .instances
        .iter()
        .zip(outcomes)
        .zip(logs)
        .filter_map(|((inst, outcome), log)| Some(stage_record(inst, registry, outcome.as_ref()?, log)))
        .collect();
    let failed = outcomes.iter().flatten().any(|o| o.status == Status::Failed);
    RunRecord {
        id: id.to_string(),
        pipeline: plan.name.clone(),
        file: args.file.clone(),
        started: record::timestamp(started),
        seconds: clock.elapsed().as_secs_f64(),
        ok: !failed && interrupted.is_none(),
        interrupted: interrupted.is_some(),
        in_progress: false,
        overrides: args.sets.clone(),
        selected: args.stages.clone(),
        stages,
    }
}

/// The record of instance `inst`'s `outcome`, with the log of its last cluster job.
fn stage_record(inst: &Instance, registry: &Registry, o: &Outcome, log: Option<String>) -> StageRecord {
    StageRecord {
        key: o.key.clone(),
        artifact: o.artifact.as_ref().map(|a| a.hash.clone()),
        seconds: o.seconds,
        metrics: o.metrics.clone(),
        error: o.error.clone(),
        log,
        ..StageRecord::of(inst, registry, o.status)
    }
}

/// Writes the run record and the lock file, prints the summary; the error says what failed.
#[allow(clippy::too_many_arguments)]
fn record_run(
    args: &Args,
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    push: Option<&Remote>,
    record: RunRecord,
    clock: Instant,
    outcomes: Vec<Option<Outcome>>,
) -> Result<(), Error> {
    let interrupted = interrupt::requested();
    let id = &record.id;
    let failed: Vec<&Outcome> = outcomes.iter().flatten().filter(|o| o.status == Status::Failed).collect();
    // Each is written whatever became of the other: the lock file lies beside the pipeline,
    // often on another disk than the cache, and a full cache must not cost it (or the summary).
    let saved = record.save(store);
    let locked = lockfile::record(plan, registry, &args.file, &record);
    let record_path = saved.as_ref().map_or_else(|_| "no run record written".into(), |p| record::display(p));
    let unwritten: Vec<Error> = saved.err().into_iter().chain(locked.err()).collect();

    print!("{}", summary_table(registry, &record));
    let count = |s: Status| record.stages.iter().filter(|r| r.status == s).count();
    // Statuses most runs have none of are named only when some have them.
    let some = |s: Status| match count(s) {
        0 => String::new(),
        n => format!(", {n} {}", s.as_str()),
    };
    println!(
        "run {id}: {} ran, {} cached{}{}, {} failed{}, {} skipped in {:.2}s ({})",
        count(Status::Ran),
        count(Status::Cached),
        some(Status::Adopted),
        some(Status::Pulled),
        count(Status::Failed),
        some(Status::Interrupted),
        count(Status::Skipped),
        clock.elapsed().as_secs_f64(),
        record_path
    );
    unwritten.iter().for_each(|e| eprintln!("error: {e}"));
    if let Some(signal) = interrupted {
        return Err(Error::Interrupted(signal));
    }
    if let Some(remote) = push {
        let artifacts: Vec<Artifact> = outcomes.iter().flatten().filter_map(|o| o.artifact.clone()).collect();
        let report = remote.push(&artifacts);
        match report {
            Ok(r) => println!("{} artifact(s) pushed to {}, {} already there", r.moved, remote.location, r.present),
            Err(e) if failed.is_empty() => return Err(e),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if failed.is_empty() && !unwritten.is_empty() {
        return Err(Error::Failed {
            message: "the run is not fully recorded (above); what it computed is in the store".into(),
            config: false,
        });
    }
    if failed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> =
        record.stages.iter().filter(|r| r.status == Status::Failed).map(|r| r.instance.as_str()).collect();
    Err(Error::Failed {
        message: format!("{} stage(s) failed: {}", names.len(), names.join(", ")),
        config: failed.iter().all(|o| o.config_error),
    })
}

fn executor(args: &Args, plan: &Plan) -> Result<Box<dyn Executor>, Error> {
    let defaults = Resources::from_args(&args.resources)?;
    match ExecutorKind::choose(args.executor, plan)? {
        ExecutorKind::Local if args.detach => {
            Err(Error::Config("--detach needs a cluster executor (--executor slurm)".into()))
        }
        ExecutorKind::Local => {
            let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            Ok(Box::new(Local { jobs }))
        }
        ExecutorKind::Slurm => {
            if !args.dry_run {
                slurm_client::require_commands()?;
            }
            Ok(Box::new(Slurm {
                file: std::path::absolute(&args.file).map_err(Error::io(&args.file))?,
                sets: args.sets.clone(),
                defaults,
                detach: args.detach,
                poll: slurm::poll_interval()?,
            }))
        }
    }
}

/// The remote this run reads (`--remote` or `remote.read`) or writes (`--push` or `remote.write`), if any.
fn open_remote(args: &Args) -> Result<(Option<Remote>, bool, bool), Error> {
    let flag = args.remote.remote.as_deref();
    let dir = config::project_dir(Some(&args.file));
    let settings = if args.push { Some(config::required(&dir, flag)?) } else { config::resolve(&dir, flag)? };
    let Some(settings) = settings else { return Ok((None, false, false)) };
    let (read, write) = (flag.is_some() || settings.read, args.push || settings.write);
    if !read && !write {
        return Ok((None, false, false));
    }
    Ok((Some(Remote::open(&settings, None, write)?), read, write))
}

fn summary_table(registry: &Registry, record: &RunRecord) -> String {
    let mut rows = vec![vec!["STAGE".into(), "STATUS".into(), "SECONDS".into(), "KEY".into(), "METRICS".into()]];
    for r in &record.stages {
        let names = registry.get(&r.kind).map(|s| s.headline()).unwrap_or_default();
        rows.push(vec![
            r.instance.clone(),
            r.status.as_str().into(),
            format!("{:.2}", r.seconds),
            r.key.as_deref().map(short).unwrap_or("-").into(),
            lockfile::compact(&lockfile::headline(names, &r.metrics)),
        ]);
    }
    table::render(&rows)
}

/// What a run would do, from the probes: with a remote to read, a key only the remote
/// holds, with all its files, would be pulled. A remote that fails and was not required is
/// left out with a warning, as the run would.
fn dry_run(
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    selection: &Selection,
    force: bool,
    remote: Option<&RemoteRead>,
) -> Result<(), Error> {
    let entries = RefCell::new(BTreeMap::new());
    let recorder = remote.map(|read| (read, read.remote.recorder(&entries)));
    let lookup = |key: &str| match recorder.as_ref().filter(|(read, _)| !read.gave_up.load(Ordering::Relaxed)) {
        None => Ok(None),
        Some((read, look)) => match look(key) {
            Err(e) if !read.required => {
                eprintln!("warning: {e}; the run would compute locally without the remote");
                read.gave_up.store(true, Ordering::Relaxed);
                Ok(None)
            }
            found => found,
        },
    };
    let probes = probe_via(plan, registry, store, &selection.run, remote.map(|_| &lookup as RemoteLookup))?;
    let entries = entries.borrow();
    let gaps = match remote {
        Some(read) => read.remote.gaps(&entries)?,
        None => BTreeMap::new(),
    };
    let whole = |key: &str| entries.contains_key(key) && !gaps.contains_key(&key.to_string());
    let adoptions = adoption::predict(plan, registry, &probes, &|i| force && selection.targets[i])?;
    let mut rows = vec![vec!["STAGE".into(), "WOULD".into(), "KEY".into()]];
    // Under the table: one message would make its column as wide as itself.
    let mut failures = Vec::new();
    for (i, (p, adoption)) in probes.iter().zip(&adoptions).enumerate() {
        let Some(p) = p else { continue };
        let forced = force && selection.targets[i];
        let adopt = adoption.would();
        let (would, key) = match &p.state {
            State::Fresh(a) if forced => ("run (forced)".to_string(), short(&a.key).to_string()),
            State::Fresh(a) => ("reuse".to_string(), short(&a.key).to_string()),
            State::Stale { key: Some(k) } if !forced && whole(k) => ("pull".to_string(), short(k).to_string()),
            State::Stale { key: Some(k) } => (adopt.unwrap_or_else(|| "run".into()), short(k).to_string()),
            State::Stale { key: None } if !p.pending.is_empty() => {
                let what = if adopt.is_some() { "run, reuse or adopt from dvc.lock" } else { "run or reuse" };
                (format!("{what}, once {} is put back", p.pending.join(", ")), "-".into())
            }
            State::Stale { key: None } => match adopt {
                // It says when already.
                Some(would) if matches!(adoption, Adoption::After { .. }) => (would, "-".into()),
                would => (format!("{} (after its upstream)", would.as_deref().unwrap_or("run")), "-".into()),
            },
            State::Broken(m) => {
                failures.push(format!("{}: {m}", plan.instances[i].name));
                ("fail (below)".to_string(), "-".into())
            }
        };
        rows.push(vec![plan.instances[i].name.clone(), would, key]);
    }
    print!("{}", table::render(&rows));
    for failure in failures {
        println!("{failure}");
    }
    Ok(())
}
