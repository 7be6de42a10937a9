//! Executes a plan: independent instances in parallel on `jobs` scoped threads,
//! each either found in the store or computed under its key's lock.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use pipe_stages::{interrupt, Context, Input, Registry, Stage, StageError};
use serde_json::{Map, Value};

use crate::executor::Work;
use crate::key::KeyParts;
use crate::mutex::lock;
use crate::out_lock::{self, OutLocks};
use crate::plan::{Instance, Plan};
use crate::progress::Reporter;
use crate::record::Status;
use crate::remote::Remote;
use crate::store::{Artifact, KeyLock, Store};
use crate::{workspace, Error};

/// What happened to one instance.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub key: Option<String>,
    pub artifact: Option<Artifact>,
    pub seconds: f64,
    pub metrics: Map<String, Value>,
    pub error: Option<String>,
    /// The failure is the pipeline's fault (a bad param or missing dep): exit code 2.
    pub config_error: bool,
    /// Declared outs found changed by hand in the workspace and kept (cached or pulled instances).
    pub edited_outs: Vec<String>,
}

impl Outcome {
    pub fn done(status: Status, artifact: Artifact, seconds: f64, metrics: Map<String, Value>) -> Outcome {
        Outcome {
            status,
            key: Some(artifact.key.clone()),
            artifact: Some(artifact),
            seconds,
            metrics,
            error: None,
            config_error: false,
            edited_outs: Vec::new(),
        }
    }

    pub fn failed(key: Option<String>, seconds: f64, error: String, config_error: bool) -> Outcome {
        Outcome {
            status: Status::Failed,
            key,
            artifact: None,
            seconds,
            metrics: Map::new(),
            error: Some(error),
            config_error,
            edited_outs: Vec::new(),
        }
    }

    /// Not attempted, for the reason `why` (an upstream failed, or the run was stopped).
    pub fn skipped(why: String) -> Outcome {
        Outcome { status: Status::Skipped, error: Some(why), ..Outcome::failed(None, 0.0, String::new(), false) }
    }

    /// Stopped by Ctrl-C or SIGTERM while it was being computed.
    pub fn stopped(key: Option<String>, seconds: f64) -> Outcome {
        Outcome { status: Status::Interrupted, ..Outcome::failed(key, seconds, "interrupted".into(), false) }
    }

    pub fn ok(&self) -> bool {
        self.artifact.is_some()
    }
}

/// Runs a [`Work`] on `jobs` threads of this process.
pub struct Runner<'a> {
    pub w: &'a Work<'a>,
    pub jobs: usize,
}

/// `pipe run --remote`: a remote consulted before computing. When it fails, the run
/// fails if the remote was `required` (asked for with `--remote`); otherwise it warns
/// once and computes locally from then on.
pub struct RemoteRead<'a> {
    pub remote: &'a Remote,
    pub required: bool,
    pub gave_up: AtomicBool,
}

/// What `on_progress` is called with: an instance and its outcome.
pub type Progress<'a> = &'a (dyn Fn(usize, &Outcome) + Sync);

/// How long a stop request waits for running stages (shell commands stop within
/// milliseconds) before the run is recorded without them.
const GRACE: Duration = Duration::from_secs(2);

/// A usable artifact: how it was obtained, where it is, its metrics.
type Found = (Status, Artifact, Map<String, Value>);

enum Slot {
    /// Not part of this run.
    Out,
    Pending,
    Running,
    Done(Box<Outcome>),
}

/// Shared between the worker threads.
struct Board {
    slots: Vec<Slot>,
    /// Keys computed by this run, so identical instances are computed once even under `--force`.
    computed: HashSet<String>,
    /// The instances of this run after each key's lock now, first come first: an identical
    /// instance waiting for the lock waits for one of them, not for another process.
    claims: HashMap<String, Vec<usize>>,
    /// The re-hash of each input object fed to a stage, done once per run: the error's
    /// text when the object was corrupt.
    rehashed: HashMap<String, Arc<OnceLock<Result<(), String>>>>,
}

impl Slot {
    fn outcome(self) -> Option<Outcome> {
        match self {
            Slot::Done(outcome) => Some(*outcome),
            _ => None,
        }
    }

    /// The outcome as of now: a running instance counts as interrupted.
    fn snapshot(&self) -> Option<Outcome> {
        match self {
            Slot::Done(outcome) => Some((**outcome).clone()),
            Slot::Running => Some(Outcome::stopped(None, 0.0)),
            Slot::Pending => Some(Outcome::skipped("the run was interrupted".into())),
            Slot::Out => None,
        }
    }
}

enum Next {
    Run(usize, Vec<Artifact>),
    Wait,
    Finished,
}

impl Runner<'_> {
    /// Runs the selected instances; the result has an outcome for each of them.
    pub fn run(&self) -> Vec<Option<Outcome>> {
        let selection = self.w.selection;
        let slots = selection.run.iter().map(|&r| if r { Slot::Pending } else { Slot::Out }).collect();
        let board =
            Mutex::new(Board { slots, computed: HashSet::new(), claims: HashMap::new(), rehashed: HashMap::new() });
        let wake = Condvar::new();
        std::thread::scope(|s| {
            for _ in 0..self.jobs.max(1) {
                s.spawn(|| self.work(&board, &wake));
            }
            if let Some(stop) = self.w.on_interrupt {
                s.spawn(|| self.watch(&board, &wake, stop));
            }
        });
        let board = board.into_inner().unwrap_or_else(|e| e.into_inner());
        board.slots.into_iter().map(Slot::outcome).collect()
    }

    /// Waits until every instance is done, or until a stop request has waited `GRACE`
    /// for running instances: then hands the outcomes so far to `stop`.
    fn watch(&self, board: &Mutex<Board>, wake: &Condvar, stop: &(dyn Fn(Vec<Option<Outcome>>) + Sync)) {
        let mut since: Option<Instant> = None;
        let mut guard = lock(board);
        loop {
            if !guard.slots.iter().any(|s| matches!(s, Slot::Pending | Slot::Running)) {
                return;
            }
            if interrupt::requested().is_some() && since.get_or_insert_with(Instant::now).elapsed() >= GRACE {
                let outcomes = guard.slots.iter().map(Slot::snapshot).collect();
                drop(guard);
                return stop(outcomes);
            }
            guard = wake.wait_timeout(guard, Duration::from_millis(50)).map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
    }

    fn work(&self, board: &Mutex<Board>, wake: &Condvar) {
        loop {
            let mut guard = lock(board);
            let (i, inputs) = loop {
                match self.next(&mut guard) {
                    Next::Run(i, inputs) => break (i, inputs),
                    Next::Wait => guard = wake.wait(guard).unwrap_or_else(|e| e.into_inner()),
                    Next::Finished => {
                        wake.notify_all();
                        return;
                    }
                }
            };
            drop(guard);
            let outcome = self.instance(i, &inputs, self.w.force && self.w.selection.targets[i], board);
            // Downstream instances start before the journal is written.
            let journaled = self.w.on_progress.map(|progress| (progress, outcome.clone()));
            let mut guard = lock(board);
            guard.slots[i] = Slot::Done(Box::new(outcome));
            drop(guard);
            wake.notify_all();
            if let Some((progress, outcome)) = journaled {
                progress(i, &outcome);
            }
        }
    }

    /// The first pending instance whose inputs are done (in plan order, which is
    /// topological); instances behind a failure are marked skipped on the way.
    fn next(&self, board: &mut Board) -> Next {
        let mut running = false;
        for i in 0..board.slots.len() {
            match board.slots[i] {
                Slot::Running => running = true,
                Slot::Pending if interrupt::requested().is_some() => {
                    board.slots[i] = Slot::Done(Box::new(Outcome::skipped("the run was interrupted".into())));
                }
                Slot::Pending => {
                    let inputs = &self.w.plan.instances[i].inputs;
                    let failed = inputs.iter().any(|&u| matches!(&board.slots[u], Slot::Done(o) if !o.ok()));
                    if failed {
                        let upstream = inputs
                            .iter()
                            .find(|&&u| matches!(&board.slots[u], Slot::Done(o) if !o.ok()))
                            .map(|&u| self.w.plan.instances[u].name.clone())
                            .unwrap_or_default();
                        let why = format!("upstream `{upstream}` failed");
                        board.slots[i] = Slot::Done(Box::new(Outcome::skipped(why)));
                        continue;
                    }
                    let ready: Option<Vec<Artifact>> = inputs
                        .iter()
                        .map(|&u| match &board.slots[u] {
                            Slot::Done(o) => o.artifact.clone(),
                            _ => None,
                        })
                        .collect();
                    if let Some(artifacts) = ready {
                        board.slots[i] = Slot::Running;
                        return Next::Run(i, artifacts);
                    }
                }
                Slot::Out | Slot::Done(_) => {}
            }
        }
        if running {
            Next::Wait
        } else {
            Next::Finished
        }
    }

    /// Finds or computes one instance.
    fn instance(&self, i: usize, inputs: &[Artifact], force: bool, board: &Mutex<Board>) -> Outcome {
        let started = Instant::now();
        let inst = &self.w.plan.instances[i];
        let Some(stage) = self.w.registry.get(&inst.kind) else {
            return Outcome::failed(None, 0.0, format!("unknown stage kind `{}`", inst.kind), true);
        };
        let fingerprint = match stage.fingerprint(&inst.params, &self.w.plan.workdir) {
            Ok(f) => f,
            Err(e) => return self.report_failure(i, Outcome::failed(None, 0.0, e.to_string(), e.is_config())),
        };
        let artifacts: Vec<String> = inputs.iter().map(|a| a.hash.clone()).collect();
        let parts = KeyParts::of(self.w.plan, i, &artifacts, fingerprint);
        let key = parts.key();
        let result = self.find_or_compute(i, stage, &parts, &key, inputs, force, board);
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok((status, artifact, metrics)) => match self.restore_outs(i, status, &artifact) {
                Ok(edited_outs) => Outcome { edited_outs, ..Outcome::done(status, artifact, seconds, metrics) },
                Err(e) => {
                    self.report_failure(i, Outcome::failed(Some(key), seconds, e.to_string(), e.exit_code() == 2))
                }
            },
            Err(Failure::Stage(StageError::Interrupted)) => Outcome::stopped(Some(key), seconds),
            Err(e) => {
                let config = match &e {
                    Failure::Stage(e) => e.is_config(),
                    Failure::Engine(e) => e.exit_code() == 2,
                };
                self.report_failure(i, Outcome::failed(Some(key), seconds, e.to_string(), config))
            }
        }
    }

    /// A cached or pulled instance's declared outs go back into the workspace before any
    /// downstream stage starts, since its command may read them there (one computed here
    /// wrote them itself). Returns the outs that were changed by hand and kept.
    fn restore_outs(&self, i: usize, status: Status, artifact: &Artifact) -> Result<Vec<String>, Error> {
        if matches!(status, Status::Ran | Status::Adopted) {
            return Ok(Vec::new());
        }
        Ok(put_back(self.w.plan, self.w.registry, self.w.store, self.w.reporter, i, artifact)?.edited)
    }

    /// Before a stage reading upstream outs in the workspace runs (their locks held), checks
    /// that they are what its key says: each the same as its upstream's artifact (not changed
    /// by hand, nor by another run since it was put back), and the deps hashed into the key
    /// unchanged since the key was computed. Otherwise its result would be cached as if made
    /// from what the key names.
    fn upstream_outs_as_keyed(
        &self,
        i: usize,
        stage: &dyn Stage,
        parts: &KeyParts,
        inputs: &[Artifact],
    ) -> Result<(), Error> {
        let inst = &self.w.plan.instances[i];
        if inst.reads.is_empty() {
            return Ok(());
        }
        let file = self.w.plan.file.display();
        for (&u, artifact) in inst.inputs.iter().zip(inputs) {
            let Some(outs) = workspace::declared_outs(self.w.registry, self.w.plan, u).ok() else { continue };
            for read in inst.reads.iter().filter(|r| outs.iter().any(|o| pipe_stages::workspace::within(r, o))) {
                if workspace::same(&self.w.plan.workdir, artifact, read)? {
                    continue;
                }
                let up = &self.w.plan.instances[u].name;
                return Err(Error::Failed {
                    message: format!(
                        "not run: its dep `{read}` (from `{up}`'s outs) differs from `{up}`'s artifact, which is \
                         what this stage's key holds: it was changed by hand, or by another run since it was put \
                         back, and this stage's result would be cached as if made from that artifact. Restore the \
                         out with `pipe checkout --force {file}` (an edit is lost), or make the change through \
                         `{up}`'s command or deps"
                    ),
                    config: false,
                });
            }
        }
        // The deps' hashes only: an always-changed stage's fingerprint also holds a nonce,
        // new at every evaluation.
        let now = stage.fingerprint(&inst.params, &self.w.plan.workdir)?;
        if now.get("deps") != parts.fingerprint.get("deps") {
            return Err(Error::Failed {
                message: "not run: its deps changed after its key was computed (another run writing them?); run \
                          again"
                    .into(),
                config: false,
            });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn find_or_compute(
        &self,
        i: usize,
        stage: &dyn Stage,
        parts: &KeyParts,
        key: &str,
        inputs: &[Artifact],
        force: bool,
        board: &Mutex<Board>,
    ) -> Result<Found, Failure> {
        let inst = &self.w.plan.instances[i];
        let reuse = |store: &Store| -> Result<Option<Found>, Failure> {
            let again = !force || lock(board).computed.contains(key);
            match store.lookup(key)? {
                Some(artifact) if again && inst.reuse.allows(key) => {
                    let metrics = artifact.metrics()?;
                    Ok(Some((Status::Cached, artifact, metrics)))
                }
                _ => Ok(None),
            }
        };
        if let Some(found) = reuse(self.w.store)? {
            return Ok(found);
        }
        // Claimed before the lock is tried, and given up only once it is released.
        lock(board).claims.entry(key.to_string()).or_default().push(i);
        let locked = || -> Result<Found, Failure> {
            let key_lock = self.w.store.lock(key, || {
                let holder = lock(board).claims[key].iter().copied().find(|&j| j != i);
                self.w.reporter.line(&match holder {
                    Some(j) => {
                        format!(
                            "waiting for {}: same key as {}, computed once",
                            inst.name, self.w.plan.instances[j].name
                        )
                    }
                    None => format!("waiting for {}: another pipe process is computing it", inst.name),
                })
            })?;
            // Whoever held the lock may have just finished this very key.
            if let Some(found) = reuse(self.w.store)? {
                return Ok(found);
            }
            if !force && inst.reuse.allows(key) {
                if let Some(found) = self.pull_from_remote(inst, key, &key_lock)? {
                    return Ok(found);
                }
            }
            self.compute(i, stage, parts, key, inputs, force, &key_lock, board)
        };
        let result = locked();
        let mut guard = lock(board);
        if let Some(claims) = guard.claims.get_mut(key) {
            claims.retain(|&j| j != i);
            if claims.is_empty() {
                guard.claims.remove(key);
            }
        }
        result
    }

    /// Downloads the key's artifact when the remote has it.
    fn pull_from_remote(&self, inst: &Instance, key: &str, key_lock: &KeyLock) -> Result<Option<Found>, Failure> {
        let Some(read) = self.w.remote else { return Ok(None) };
        if read.gave_up.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let started = Instant::now();
        match read.remote.fetch(self.w.store, key, key_lock) {
            Ok(Some(artifact)) => {
                let metrics = artifact.metrics()?;
                let seconds = started.elapsed().as_secs_f64();
                self.w.reporter.line(&format!(" pulled {} ({seconds:.2}s)", inst.name));
                Ok(Some((Status::Pulled, artifact, metrics)))
            }
            Ok(None) => Ok(None),
            // An entry whose file is gone is a miss, as for `status --remote` and `pull`, not a
            // remote that fails: this stage is computed, the later ones are still looked up.
            Err(Error::Remote(gap @ crate::remote::RemoteError::Incomplete { .. })) => {
                self.w.reporter.line(&format!(
                    "warning: stage `{}`: {gap}: it counts as not on the remote and is computed here",
                    inst.name
                ));
                Ok(None)
            }
            Err(e) if read.required => Err(e.into()),
            Err(e) => {
                if !read.gave_up.swap(true, Ordering::Relaxed) {
                    self.w.reporter.line(&format!("warning: {e}; computing locally without the remote"));
                }
                Ok(None)
            }
        }
    }

    /// Runs the stage into a private directory and seals it into the store.
    #[allow(clippy::too_many_arguments)]
    fn compute(
        &self,
        i: usize,
        stage: &dyn Stage,
        parts: &KeyParts,
        key: &str,
        inputs: &[Artifact],
        force: bool,
        key_lock: &KeyLock,
        board: &Mutex<Board>,
    ) -> Result<Found, Failure> {
        let inst = &self.w.plan.instances[i];
        self.rehash_inputs(i, inputs, board)?;
        let upstream: Vec<Input> = inst
            .inputs
            .iter()
            .zip(inputs)
            .map(|(&u, artifact)| {
                let up = &self.w.plan.instances[u];
                Ok(Input {
                    stage: up.stage.clone(),
                    kind: up.kind.clone(),
                    instance: up.name.clone(),
                    matrix: up.matrix.clone(),
                    params: self.w.registry.shown(&up.kind, &up.params),
                    dir: artifact.dir.clone(),
                    metrics: Value::Object(artifact.metrics()?),
                })
            })
            .collect::<Result<_, Error>>()?;
        // Held until the artifact is committed: another run's command must not rewrite an
        // out between this command writing it and the stage capturing it, nor an upstream out
        // this one reads while it reads it.
        let _outs = self.lock_outs(i)?;
        self.upstream_outs_as_keyed(i, stage, parts, inputs)?;
        let tmp = self.w.store.begin(key, key_lock)?;
        let bar = self.w.reporter.started(&inst.name);
        let started = Instant::now();
        let mut ctx = Context::new(
            inst.name.clone(),
            inst.params.clone(),
            upstream,
            tmp.clone(),
            self.w.plan.workdir.clone(),
            inst.seed,
            &bar,
        )
        .forced(force)
        .dvc_stage(inst.dvc.clone());
        let ran = catch_unwind(AssertUnwindSafe(|| stage.run(&mut ctx))).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(StageError::Failed(format!("the stage panicked: {message}")))
        });
        let status = if ctx.was_adopted() { Status::Adopted } else { Status::Ran };
        let metrics = ctx.into_metrics();
        let seconds = started.elapsed().as_secs_f64();
        let sealed =
            ran.map_err(Failure::Stage).and_then(|()| Ok(self.w.store.commit(&tmp, parts, &metrics, key_lock)?));
        match sealed {
            Ok(artifact) => {
                // Before the key lock is released, so an identical instance waiting on it reuses this.
                lock(board).computed.insert(key.to_string());
                self.w.reporter.finished(bar, &format!("{:>7} {} ({seconds:.2}s)", status.as_str(), inst.name));
                Ok((status, artifact, metrics))
            }
            Err(e) => {
                let how = if matches!(e, Failure::Stage(StageError::Interrupted)) { "interrupted" } else { " failed" };
                self.w.reporter.finished(bar, &format!("{how} {} ({seconds:.2}s)", inst.name));
                // The failure matters more than a leftover tmp dir, which the next run removes anyway.
                let _ = self.w.store.discard(&tmp);
                Err(e)
            }
        }
    }

    /// Re-hashes the objects instance `i` is about to read, each once per run, except those
    /// this run computed: the stat check that let them be reused misses bit rot, and a stage
    /// must not turn rotten bytes into a new artifact under a valid key.
    fn rehash_inputs(&self, i: usize, inputs: &[Artifact], board: &Mutex<Board>) -> Result<(), Error> {
        for (&u, artifact) in self.w.plan.instances[i].inputs.iter().zip(inputs) {
            let once = {
                let mut board = lock(board);
                if board.computed.contains(&artifact.key) {
                    continue;
                }
                board.rehashed.entry(artifact.key.clone()).or_default().clone()
            };
            if let Err(corrupt) = once.get_or_init(|| self.w.store.rehash(artifact).map_err(|e| e.to_string())) {
                let (me, up) = (&self.w.plan.instances[i].name, &self.w.plan.instances[u].name);
                // The run must not record it as found, with metrics read from the corrupt object.
                let mut board = lock(board);
                if let Slot::Done(found) = &board.slots[u] {
                    if found.ok() {
                        let why = format!("its artifact failed its re-hash when `{me}` was to read it: {corrupt}");
                        let failed = Outcome::failed(found.key.clone(), found.seconds, why, false);
                        board.slots[u] = Slot::Done(Box::new(failed));
                    }
                }
                return Err(Error::CorruptObject(format!(
                    "its input from `{up}` failed its re-hash, so `{me}` did not run: {corrupt}; the next `pipe run` \
                     computes `{up}` again"
                )));
            }
        }
        Ok(())
    }

    /// The locks of instance `i`'s declared workspace outs and of the upstream outs it reads,
    /// saying whom it waits for.
    fn lock_outs(&self, i: usize) -> Result<OutLocks, Error> {
        let outs = workspace::declared_outs(self.w.registry, self.w.plan, i)?;
        let inst = &self.w.plan.instances[i];
        let name = &inst.name;
        let holder = format!("stage `{name}` of {}", self.w.plan.file.display());
        out_lock::acquire(self.w.store, &self.w.plan.workdir, &outs, &inst.reads, &holder, &|path, by| {
            let what = if outs.iter().any(|o| o == path) { "out" } else { "dep" };
            self.w.reporter.line(&format!("waiting for {name}: its {what} `{path}` is in use by {by}"))
        })
    }

    fn report_failure(&self, i: usize, outcome: Outcome) -> Outcome {
        let error = outcome.error.as_deref().unwrap_or_default();
        self.w.reporter.line(&format!("error: stage `{}`: {error}", self.w.plan.instances[i].name));
        outcome
    }
}

/// What [`put_back`] did to an instance's declared outs.
pub struct PutBack {
    /// Some file in the workspace changed (a missing out came back).
    pub changed: bool,
    /// Outs changed by hand there and kept.
    pub edited: Vec<String>,
}

/// Puts the declared outs of instance `i` back into the workspace from `artifact` where
/// they are missing or stale (`restored out.txt (out of g)`): the local and the cluster
/// executors do it for every instance they found or had computed elsewhere.
pub fn put_back(
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    reporter: &Reporter,
    i: usize,
    artifact: &Artifact,
) -> Result<PutBack, Error> {
    let restored = workspace::restore(plan, registry, store, &[(i, artifact)], false, &|line| reporter.line(line))?;
    Ok(PutBack {
        changed: restored.iter().any(workspace::Restored::changed),
        edited: restored.into_iter().filter(|r| r.action == workspace::Action::Modified).map(|r| r.out).collect(),
    })
}

/// A stage's own error (with its exit-code class) or the engine's.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Stage(StageError),
    #[error(transparent)]
    Engine(#[from] Error),
}
