//! `pipe status`: which instances would run, with `--why` which key component changed, and
//! which declared outs the workspace does not hold as pipe left them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pipe_stages::Registry;

use crate::dvc::adoption::{self, Adoption};
use crate::executor::slurm;
use crate::lockfile;
use crate::out_lock;
use crate::plan::Plan;
use crate::probe::{probe_via, Probe, RemoteLookup, State};
use crate::remote::config::{self, RemoteArg};
use crate::remote::entry::Entry;
use crate::remote::Remote;
use crate::store::Store;
use crate::table::short;
use crate::workspace::{self, Drift};
use crate::{why, Error};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe status pipelines/final.yaml
  pipe status pipelines/final.yaml --why
  pipe status pipelines/final.yaml --why --set train.dropout=0.2")]
pub struct Args {
    /// Pipeline file
    pub file: PathBuf,
    /// For each stale stage, name the param, dep, seed, code version or upstream that changed
    #[arg(long)]
    pub why: bool,
    /// Override a value as `pipe run --set` would: STAGE.KEY=VALUE or params.KEY=VALUE
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub remote: RemoteArg,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    let registry = Registry::builtin();
    let plan = super::load_checked(&args.file, &args.sets, &registry, cache)?;
    let store = Store::new(cache)?;
    let remote = match args.remote.remote.as_deref() {
        Some(flag) => Some(config::required(&config::project_dir(Some(&args.file)), Some(flag))?),
        None => None,
    };
    let remote = remote.map(|settings| Remote::open(&settings, None, false)).transpose()?;
    let entries: RefCell<BTreeMap<String, Entry>> = RefCell::new(BTreeMap::new());
    let lookup = remote.as_ref().map(|r| r.recorder(&entries));
    let all = vec![true; plan.instances.len()];
    let probes = probe_via(&plan, &registry, &store, &all, lookup.as_ref().map(|l| l as RemoteLookup))?;
    // An entry whose files are not all there is not on the remote: a pull of it would fail.
    let entries = entries.borrow();
    let gaps = match &remote {
        Some(r) => r.gaps(&entries)?,
        None => BTreeMap::new(),
    };
    let lock = lockfile::load(&args.file)?;
    let live = slurm::computing(&plan, &registry, &store, &probes)?;
    let adoptions = adoption::predict(&plan, &registry, &probes, &|_| false)?;
    let mut stale = 0;
    let mut out = String::new();
    for (i, (((inst, p), job), adoption)) in plan.instances.iter().zip(&probes).zip(&live).zip(&adoptions).enumerate() {
        let Some(p) = p else { continue };
        let (word, key) = match &p.state {
            State::Fresh(a) => ("fresh", short(&a.key).to_string()),
            State::Stale { key } => ("stale", key.as_deref().map(short).unwrap_or("-").to_string()),
            State::Broken(_) => ("broken", "-".to_string()),
        };
        if !matches!(p.state, State::Fresh(_)) {
            stale += 1;
        }
        let gap = p.parts.as_ref().and_then(|parts| gaps.get(&parts.key()));
        if remote.is_some() {
            let place = match (p.artifact().is_some(), p.remote.is_some() && gap.is_none()) {
                (true, true) => "both",
                (true, false) => "local",
                (false, true) => "remote",
                // No key to ask the remote about until the upstream is built or pulled.
                (false, false) if matches!(p.state, State::Stale { key: None }) => "-",
                (false, false) => "missing",
            };
            out.push_str(&format!("{place:<8}"));
        }
        let job =
            job.as_ref().map(|(r, state)| format!("  (slurm job {}: {})", r.job, state.describe())).unwrap_or_default();
        out.push_str(&format!("{word:<7}{key:<14}{}{job}\n", inst.name));
        let entry = lock.stages.get(&inst.name);
        let mut notes = match &p.state {
            _ if args.why => why::reasons(p, entry, &store, &registry)?,
            State::Broken(message) => vec![message.clone()],
            _ => Vec::new(),
        };
        notes.extend(adoption.note());
        notes.extend(gap.map(|gap| {
            format!("{gap}: `pipe pull` cannot fetch it; `pipe push` from a store that has it uploads the files again")
        }));
        // Outs DVC's last run made, which the run adopts as they are, are no edits to replace.
        if !matches!(adoption, Adoption::Current { .. }) {
            notes.extend(drifts(&plan, &registry, &store, i, p, entry, &args.file)?);
        }
        for note in notes {
            out.push_str(&format!("{:21}- {note}\n", ""));
        }
    }
    print!("{out}");
    let count = |f: fn(&Adoption) -> bool| adoptions.iter().filter(|a| f(a)).count();
    let adopted =
        match (count(|a| matches!(a, Adoption::Current { .. })), count(|a| matches!(a, Adoption::After { .. }))) {
            (0, 0) => String::new(),
            (n, 0) => format!(", {n} to adopt from dvc.lock"),
            (n, later) => format!(", {n} to adopt from dvc.lock ({later} more judged once their upstream is done)"),
        };
    println!("{stale} of {} stage instance(s) stale{adopted}", plan.instances.len());
    Ok(())
}

/// Lines for the declared outs of instance `i` that the workspace does not hold as pipe left
/// them: against the artifact when fresh, against the lock file's last artifact when stale
/// (the run will replace that out, edit and all).
fn drifts(
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    i: usize,
    probe: &Probe,
    entry: Option<&lockfile::LockEntry>,
    file: &Path,
) -> Result<Vec<String>, Error> {
    let name = &plan.instances[i].name;
    let mut notes = Vec::new();
    match &probe.state {
        State::Fresh(artifact) => {
            let outs = match &probe.outs {
                Some(outs) => outs.clone(),
                None => workspace::drift(plan, registry, store, i, artifact)?,
            };
            for (out, drift) in outs {
                if drift == Drift::Current {
                    continue;
                }
                if let Some(note) = being_written(plan, store, &out)? {
                    notes.push(note);
                    continue;
                }
                notes.push(match drift {
                    Drift::Current => continue,
                    Drift::Missing => format!("`{out}` is not in the workspace: `pipe run` or `pipe checkout` restores it"),
                    Drift::Earlier => format!(
                        "`{out}` holds another run's output: `pipe run` or `pipe checkout` puts this one's there"
                    ),
                    Drift::Edited => format!(
                        "`{out}` was changed by hand: `pipe run` keeps it; `pipe checkout --force {}` restores `{name}`'s",
                        file.display()
                    ),
                });
            }
        }
        State::Stale { .. } => {
            let Some(previous) = entry.map(|e| store.lookup(&e.key)).transpose()?.flatten() else { return Ok(notes) };
            for (out, drift) in workspace::drift(plan, registry, store, i, &previous)? {
                if drift == Drift::Current {
                    continue;
                }
                if let Some(note) = being_written(plan, store, &out)? {
                    notes.push(note);
                } else if drift == Drift::Edited {
                    notes.push(format!("`{out}` was changed by hand: running `{name}` replaces it"));
                }
            }
        }
        State::Broken(_) => {}
    }
    Ok(notes)
}

/// A note for an out that a run in progress is writing: what it holds now is neither an
/// edit nor the run's result yet. One a stage holds to read it stays as it is meanwhile.
fn being_written(plan: &Plan, store: &Store, out: &str) -> Result<Option<String>, Error> {
    Ok(out_lock::holder(store, &plan.workdir, out)?
        .filter(|by| by.writes)
        .map(|by| format!("`{out}` is being written by {}: `pipe status` again once it has finished", by.who)))
}
