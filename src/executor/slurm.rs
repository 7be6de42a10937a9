//! The Slurm executor: one `sbatch` job per stale instance, its upstream jobs as
//! `afterok` dependencies. Each job runs this same `pipe` binary (`pipe job`) to
//! compute exactly its instance into the shared cache under the key lock, so keys,
//! artifacts, run records and lock files are those of a local run. The submitting
//! run waits, polling the cluster with one query for all its jobs, and cancels them
//! on Ctrl-C or SIGTERM; with `--detach` it returns once they are submitted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::jobs::{self, JobRecord};
use super::slurm_client::{self, JobState};
use super::{Executor, Finished, Work};
use pipe_stages::{interrupt, Registry};

use crate::mutex::lock;
use crate::plan::Plan;
use crate::probe::{probe, Probe, State};
use crate::record::{self, Status};
use crate::resources::Resources;
use crate::runner::{put_back, Outcome};
use crate::store::{Artifact, Store};
use crate::{signals, Error};

pub struct Slurm {
    /// The pipeline file, absolute: the jobs read it from the shared filesystem.
    pub file: PathBuf,
    /// `--set`s, passed on to every job so that it plans what the submitter planned.
    pub sets: Vec<String>,
    /// `--resource` defaults: under each stage's `resources:`, over the pipeline's.
    pub defaults: Resources,
    pub detach: bool,
    pub poll: Duration,
}

/// How often the waiting run asks about its jobs: `$PIPE_SLURM_POLL` seconds (at least 1), else 5.
pub fn poll_interval() -> Result<Duration, Error> {
    match std::env::var("PIPE_SLURM_POLL") {
        Ok(text) => match text.parse::<f64>() {
            Ok(s) if s >= 1.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
            _ => Err(Error::Config(format!("$PIPE_SLURM_POLL={text}: expected a number of seconds, at least 1"))),
        },
        Err(_) => Ok(Duration::from_secs(5)),
    }
}

/// A job this run follows.
struct Job {
    instance: usize,
    id: String,
    recipe: String,
    /// Submitted by this run (so Ctrl-C cancels it), not adopted from an earlier one.
    ours: bool,
}

/// Lines of a failed job's log shown in the error.
const LOG_TAIL: usize = 15;
/// Consecutive failed status queries (a controller restarting, say) tolerated before giving up.
const QUERY_RETRIES: u32 = 10;

impl Executor for Slurm {
    fn execute(&self, w: &Work) -> Result<Finished, Error> {
        let n = w.plan.instances.len();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
        let submitted = Arc::new(Mutex::new(Submitted::default()));
        // A second signal ends the process at once (`crate::signals`): the jobs go first.
        let _cancel = signals::on_exit({
            let submitted = Arc::clone(&submitted);
            move || cancel(&submitted, |line| eprintln!("{line}"))
        });
        let jobs = self.submit(w, &mut outcomes, &submitted)?;
        if jobs.is_empty() {
            return Ok(Finished::All(outcomes));
        }
        if self.detach {
            println!("JOB       INSTANCE");
            for job in &jobs {
                println!("{:<9} {}", job.id, w.plan.instances[job.instance].name);
            }
            return Ok(Finished::Detached(unsubmitted(w, &outcomes)));
        }
        let (states, interrupted) = self.wait(w, &jobs, &submitted)?;
        let probes = probe(w.plan, w.registry, w.store, &w.selection.run)?;
        let _forgetting = jobs::lock_submissions(w.store)?;
        for job in &jobs {
            // A followed job still running goes on for the run that submitted it.
            if job.ours || !interrupted {
                jobs::forget(w.store, &job.recipe, Some(&job.id))?;
            }
            let i = job.instance;
            let state = states.get(&job.id);
            let seconds = state.map_or(0.0, |s| s.seconds);
            let forced = w.force && w.selection.targets[i];
            let completed = state.is_none_or(|s| s.state == "COMPLETED");
            let probe = probes[i].as_ref().map(|p| &p.state);
            let key = match probe {
                Some(State::Stale { key }) => key.clone(),
                _ => None,
            };
            outcomes[i] = Some(match (probe, failed_upstream(w, &outcomes, i)) {
                (Some(State::Fresh(a)), _) if completed || !forced => found(w, i, Status::Ran, a, seconds)?.0,
                _ if interrupted => Outcome::stopped(key, seconds),
                (_, Some(upstream)) => Outcome::skipped(format!("upstream `{upstream}` failed")),
                (_, None) => report(w, i, Outcome::failed(key, seconds, failure(w.store, job, state), false)),
            });
        }
        Ok(Finished::All(outcomes))
    }
}

impl Slurm {
    /// Settles what needs no job (cached, broken, behind a failure) in `outcomes`;
    /// submits the rest, or adopts the live job an earlier run submitted for it.
    fn submit(
        &self,
        w: &Work,
        outcomes: &mut [Option<Outcome>],
        submitted: &Mutex<Submitted>,
    ) -> Result<Vec<Job>, Error> {
        let probes = settle_cached(w, outcomes)?;
        let recipes = jobs::recipes(w.plan, w.registry, &w.selection.run);
        let _submitting = jobs::lock_submissions(w.store)?;
        let live = live_jobs(w.store, &recipes)?;
        let mut followed: Vec<Job> = Vec::new();
        let mut job_of: Vec<Option<String>> = vec![None; outcomes.len()];
        for (i, probe) in probes.iter().enumerate() {
            let Some(probe) = probe else { continue };
            let forced = w.force && w.selection.targets[i];
            if let (Some(recipe), None) = (&recipes[i], &live[i]) {
                // A finished job's record: nothing follows it any more.
                jobs::forget(w.store, recipe, None)?;
            }
            if outcomes[i].is_some() {
                continue;
            }
            // Jobs computing inputs: a dep that is an upstream's out is written by one of them.
            let after: Vec<String> = w.plan.instances[i].inputs.iter().filter_map(|&u| job_of[u].clone()).collect();
            let outcome = match (&probe.state, &recipes[i], failed_upstream(w, outcomes, i)) {
                _ if interrupt::requested().is_some() => Outcome::skipped("the run was interrupted".into()),
                (State::Broken(message), _, _) if after.is_empty() => {
                    report(w, i, Outcome::failed(None, 0.0, message.clone(), true))
                }
                (_, _, Some(upstream)) => Outcome::skipped(format!("upstream `{upstream}` failed")),
                (_, None, None) => report(
                    w,
                    i,
                    Outcome::failed(None, 0.0, "an upstream instance cannot be fingerprinted".into(), true),
                ),
                (state, Some(recipe), None) => {
                    if let Some((record, _)) = &live[i] {
                        w.reporter.line(&format!(
                            "slurm job {} {}: following it (submitted {} by an earlier run)",
                            record.job, w.plan.instances[i].name, record.submitted
                        ));
                        job_of[i] = Some(record.job.clone());
                        lock(submitted).theirs.push(record.job.clone());
                        followed.push(Job { instance: i, id: record.job.clone(), recipe: recipe.clone(), ours: false });
                        continue;
                    }
                    // Unknown until the upstream jobs ran: the job computes it, the run learns it after.
                    let key = match state {
                        State::Stale { key } => key.clone(),
                        _ => None,
                    };
                    match self.sbatch(w, i, recipe, key.clone(), &after, forced) {
                        Ok(id) => {
                            lock(submitted).ours.push(id.clone());
                            job_of[i] = Some(id.clone());
                            followed.push(Job { instance: i, id, recipe: recipe.clone(), ours: true });
                            continue;
                        }
                        Err(e) => report(w, i, Outcome::failed(key, 0.0, e.to_string(), e.exit_code() == 2)),
                    }
                }
            };
            outcomes[i] = Some(outcome);
        }
        Ok(followed)
    }

    fn sbatch(
        &self,
        w: &Work,
        i: usize,
        recipe: &str,
        key: Option<String>,
        after: &[String],
        forced: bool,
    ) -> Result<String, Error> {
        let inst = &w.plan.instances[i];
        let log = jobs::log_path(w.store, recipe);
        let logs = log.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(logs).map_err(Error::io(logs))?;
        let exe = std::env::current_exe().map_err(Error::io("pipe"))?;
        let cwd = std::env::current_dir().map_err(Error::io("."))?;
        let mut command: Vec<String> = vec![
            exe.display().to_string(),
            "--cache".into(),
            w.store.root().display().to_string(),
            "job".into(),
            self.file.display().to_string(),
            inst.name.clone(),
            // The node may have another CPU: it resolves `auto` as this host did.
            "--planned-at".into(),
            pipe_stages::planned_at::level().name().into(),
        ];
        for set in &self.sets {
            command.extend(["--set".into(), set.clone()]);
        }
        if forced {
            command.push("--force".into());
        }
        let quoted: Vec<String> = command.iter().map(|a| shell_word(a)).collect();
        let script = format!("#!/bin/sh\nexec {}\n", quoted.join(" "));
        let mut args = vec![
            format!("--job-name=pipe:{}:{}", w.plan.name, inst.name),
            format!("--output={}", log.display()),
            format!("--chdir={}", cwd.display()),
            // The job reads HF_HOME, PIPE_* and the rest of the submitter's environment.
            "--export=ALL".into(),
            // A failed upstream cancels its dependants instead of leaving them pending forever.
            "--kill-on-invalid-dep=yes".into(),
        ];
        if !after.is_empty() {
            args.push(format!("--dependency=afterok:{}", after.join(":")));
        }
        args.extend(inst.resources.or(&self.defaults).or(&w.plan.resources).sbatch_args());
        let id = slurm_client::sbatch(&script, &args)?;
        let record = JobRecord {
            job: id.clone(),
            executor: "slurm".into(),
            pipeline: w.plan.name.clone(),
            instance: inst.name.clone(),
            key,
            log: log.clone(),
            submitted: record::timestamp(SystemTime::now()),
        };
        jobs::save(w.store, recipe, &record)?;
        let after = if after.is_empty() { String::new() } else { format!(" after {}", after.join(", ")) };
        w.reporter.line(&format!("slurm job {id} {}: submitted{after}, log {}", inst.name, record::display(&log)));
        Ok(id)
    }

    /// Polls until no job is live, printing each job's state when it changes. On Ctrl-C
    /// or SIGTERM it cancels this run's jobs; the flag says so, and the states are those
    /// after the cancel (a job that completed before it counts).
    fn wait(
        &self,
        w: &Work,
        jobs: &[Job],
        submitted: &Mutex<Submitted>,
    ) -> Result<(HashMap<String, JobState>, bool), Error> {
        let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
        let mut status = slurm_client::Status::default();
        let mut shown: HashMap<&str, String> = HashMap::new();
        let mut failures = 0;
        loop {
            match status.query(&ids) {
                Ok(states) => {
                    failures = 0;
                    for job in jobs {
                        let line = states.get(&job.id).map_or("no longer known to Slurm".into(), JobState::describe);
                        if shown.get(job.id.as_str()) != Some(&line) {
                            w.reporter
                                .line(&format!("slurm job {} {}: {line}", job.id, w.plan.instances[job.instance].name));
                            shown.insert(&job.id, line);
                        }
                    }
                    if !states.values().any(JobState::live) {
                        return Ok((states, false));
                    }
                }
                Err(e) if failures < QUERY_RETRIES => {
                    failures += 1;
                    w.reporter.line(&format!("cannot ask Slurm about the jobs ({e}); trying again"));
                }
                Err(e) => return Err(e),
            }
            if sleep_unless_stopped(self.poll) {
                cancel(submitted, |line| w.reporter.line(line));
                // Best effort: where it fails, the artifacts still tell which jobs completed.
                return Ok((status.query(&ids).unwrap_or_default(), true));
            }
        }
    }
}

/// The jobs a run follows, and whether it has cancelled its own.
#[derive(Default)]
struct Submitted {
    /// Submitted by this run: a stop cancels them.
    ours: Vec<String>,
    /// Followed for an earlier run, which they belong to.
    theirs: Vec<String>,
    cancelled: bool,
}

/// Cancels this run's jobs once and has `say` report it, with the ids still queued where
/// `scancel` failed. The lock is held throughout, so that a second signal's cleanup,
/// which ends the process, waits for the first stop's cancel and its report.
fn cancel(submitted: &Mutex<Submitted>, say: impl FnOnce(&str)) {
    let mut s = lock(submitted);
    if std::mem::replace(&mut s.cancelled, true) {
        return;
    }
    let ids = s.ours.join(", ");
    let mut line = if s.ours.is_empty() {
        "interrupted: cancelled no slurm job".to_string()
    } else {
        match slurm_client::scancel(&s.ours) {
            Ok(()) => format!("interrupted: cancelled slurm job(s) {ids}"),
            Err(e) => format!("error: interrupted: {e}; slurm job(s) {ids} may still be queued: scancel them"),
        }
    };
    if !s.theirs.is_empty() {
        line.push_str(&format!(
            "; slurm job(s) {} belong to the run that submitted them and go on",
            s.theirs.join(", ")
        ));
    }
    say(&line);
}

/// Probes the selection and settles the instances found in the store, putting their outs
/// back into the workspace first, as a local run does: a job submitted now may read them.
/// An out put back can make a stage reading it fresh too: then it probes again.
fn settle_cached(w: &Work, outcomes: &mut [Option<Outcome>]) -> Result<Vec<Option<Probe>>, Error> {
    loop {
        let probes = probe(w.plan, w.registry, w.store, &w.selection.run)?;
        let mut changed = false;
        for (i, p) in probes.iter().enumerate() {
            let Some(State::Fresh(a)) = p.as_ref().map(|p| &p.state) else { continue };
            if outcomes[i].is_some() || (w.force && w.selection.targets[i]) {
                continue;
            }
            let (outcome, put) = found(w, i, Status::Cached, a, 0.0)?;
            changed |= put;
            outcomes[i] = Some(outcome);
        }
        if !changed {
            return Ok(probes);
        }
    }
}

/// The outcome of an instance whose artifact is in the store, its outs put back into the
/// workspace (a job on another node wrote them there, if anywhere); true when a file came back.
fn found(w: &Work, i: usize, status: Status, artifact: &Artifact, seconds: f64) -> Result<(Outcome, bool), Error> {
    let done = Outcome::done(status, artifact.clone(), seconds, artifact.metrics()?);
    Ok(match put_back(w.plan, w.registry, w.store, w.reporter, i, artifact) {
        Ok(put) => (Outcome { edited_outs: put.edited, ..done }, put.changed),
        Err(e) => {
            let failed = Outcome::failed(Some(artifact.key.clone()), seconds, e.to_string(), e.exit_code() == 2);
            (report(w, i, failed), false)
        }
    })
}

/// With `--detach`: an error naming the instances that could not be submitted, if any.
fn unsubmitted(w: &Work, outcomes: &[Option<Outcome>]) -> Result<(), Error> {
    let failed: Vec<&Outcome> = outcomes.iter().flatten().filter(|o| o.status == Status::Failed).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = outcomes
        .iter()
        .zip(&w.plan.instances)
        .filter(|(o, _)| o.as_ref().is_some_and(|o| o.status == Status::Failed))
        .map(|(_, inst)| inst.name.as_str())
        .collect();
    Err(Error::Failed {
        message: format!("{} instance(s) not submitted: {}", names.len(), names.join(", ")),
        config: failed.iter().all(|o| o.config_error),
    })
}

/// `word` as one word of a POSIX shell command line, quoted only where it needs to be.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Sleeps for `d`, waking early when Ctrl-C or SIGTERM asked the run to stop
/// (`crate::signals`); true when one did, so the run can cancel its jobs first.
fn sleep_unless_stopped(d: Duration) -> bool {
    let until = Instant::now() + d;
    while interrupt::requested().is_none() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(left));
    }
    true
}

/// The live job, if any, of each probed instance that has no artifact yet. Asks the
/// cluster only when the cache holds job records, so local users never need Slurm.
pub fn computing(
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    probes: &[Option<Probe>],
) -> Result<Vec<Option<(JobRecord, JobState)>>, Error> {
    if !jobs::any(store) {
        return Ok(vec![None; probes.len()]);
    }
    // Recipes build on the upstream's, built or not; only the unbuilt instances are asked about.
    let probed: Vec<bool> = probes.iter().map(Option::is_some).collect();
    let mut recipes = jobs::recipes(plan, registry, &probed);
    for (recipe, p) in recipes.iter_mut().zip(probes) {
        if p.as_ref().is_none_or(|p| p.artifact().is_some()) {
            *recipe = None;
        }
    }
    live_jobs(store, &recipes)
}

/// The ids of all recorded jobs that are still queued or running.
pub fn live_ids(store: &Store) -> Result<Vec<String>, Error> {
    let recipes: Vec<Option<String>> = jobs::recorded(store).into_iter().map(Some).collect();
    Ok(live_jobs(store, &recipes)?.into_iter().flatten().map(|(record, _)| record.job).collect())
}

/// The live job computing each instance, from the records in the cache: one query for all.
pub fn live_jobs(store: &Store, recipes: &[Option<String>]) -> Result<Vec<Option<(JobRecord, JobState)>>, Error> {
    // An unreadable record is treated as none: at worst the instance is submitted again,
    // and the key lock still keeps two jobs from computing it at once.
    let records: Vec<Option<JobRecord>> =
        recipes.iter().map(|r| r.as_deref().and_then(|r| jobs::load(store, r).ok().flatten())).collect();
    let ids: Vec<String> = records.iter().flatten().map(|r| r.job.clone()).collect();
    if ids.is_empty() {
        return Ok(vec![None; recipes.len()]);
    }
    let states = slurm_client::Status::default().query(&ids)?;
    Ok(records
        .into_iter()
        .map(|r| {
            let r = r?;
            let state = states.get(&r.job).filter(|s| s.live())?.clone();
            Some((r, state))
        })
        .collect())
}

/// The first input of instance `i` that failed or was skipped.
fn failed_upstream(w: &Work, outcomes: &[Option<Outcome>], i: usize) -> Option<String> {
    let inputs = &w.plan.instances[i].inputs;
    let u = inputs.iter().find(|&&u| outcomes[u].as_ref().is_some_and(|o| !o.ok()))?;
    Some(w.plan.instances[*u].name.clone())
}

/// What went wrong with a job, with the end of its log.
fn failure(store: &Store, job: &Job, state: Option<&JobState>) -> String {
    let how = state.map_or("left the queue".into(), JobState::describe);
    let log = jobs::log_path(store, &job.recipe);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n    ");
    format!("slurm job {} {how} without an artifact; end of {}:\n    {tail}", job.id, record::display(&log))
}

fn report(w: &Work, i: usize, outcome: Outcome) -> Outcome {
    let error = outcome.error.as_deref().unwrap_or_default();
    w.reporter.line(&format!("error: stage `{}`: {error}", w.plan.instances[i].name));
    outcome
}
