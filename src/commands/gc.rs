//! `pipe gc`: removes objects and cluster job logs no kept run record references,
//! leftovers of killed runs and quarantined objects; with `--remote`, what the named
//! pipelines do not use from the remote cache.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pipe_stages::Registry;

use crate::executor::jobs;
use crate::probe::{probe_via, State};
use crate::record::RunRecord;
use crate::remote::config::{self, RemoteArg};
use crate::remote::Remote;
use crate::store::{remove, Store};
use crate::Error;
use crate::{lockfile, record};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe gc                 keep everything any run record references
  pipe gc --keep 3        keep each pipeline's last 3 whole runs (and --stage runs since), then collect
  pipe gc --dry-run
  pipe gc --remote pipelines/final.yaml pipelines/quick.yaml   the remote keeps what these two use
  pipe gc --remote=s3://team/pipe-cache pipelines/*.yaml --keep-recent 30d --dry-run")]
pub struct Args {
    /// First delete each pipeline's run records older than its newest N runs of the whole pipeline
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "remote")]
    pub keep: Option<u64>,
    /// Report what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub remote: RemoteArg,
    /// With --remote: the pipelines whose artifacts stay there (what each resolves to now, and what its lock file names)
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// With --remote: also keep whatever was uploaded within this age (90m, 12h, 30d)
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub keep_recent: Option<Duration>,
    /// With --remote: requests at once [default: `remote.jobs`, else 8]
    #[arg(short = 'j', long, value_name = "N", value_parser = super::at_once)]
    pub jobs: Option<usize>,
}

/// Uploads younger than this stay unless `--keep-recent` says otherwise: a push in
/// flight has its files up before its entry, and they must survive until it lands.
const KEEP_RECENT: Duration = Duration::from_secs(3600);

/// Clock differences worth a note, in seconds: more than timestamps' whole-second rounding.
const CLOCK_NOTE: f64 = 60.0;

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    if args.remote.remote.is_some() {
        return collect_remote(args, cache);
    }
    if let Some(file) = args.files.first() {
        let file = file.display();
        return Err(Error::Config(format!("pipe gc {file}: pipeline files name what a remote keeps; add --remote")));
    }
    if args.keep_recent.is_some() || args.jobs.is_some() {
        return Err(Error::Config("pipe gc: --keep-recent and -j apply to a remote; add --remote".into()));
    }
    let store = Store::new(cache)?;
    if !store.root().exists() {
        println!("no cache at {}", store.root().display());
        return Ok(());
    }
    // Exclusive: no run is computing, so every tmp entry is a leftover.
    let _exclusive = store.lock_cache(true)?;
    // Queued cluster jobs hold no lock yet, and no run record references their inputs until their run ends.
    let queued = crate::executor::slurm::live_ids(&store)?;
    if !queued.is_empty() {
        let (jobs, root) = (queued.join(", "), store.root().display());
        return Err(Error::Busy(format!("slurm job(s) {jobs} will use {root}; retry when they have finished")));
    }
    // gc keeps what kept records name: one it cannot read could name anything, so it stops.
    let load = |id: &str| {
        record::load(&store, id).map_err(|e| match e {
            Error::Corrupt { path, message } => Error::Failed {
                message: format!(
                    "{}: not a run record pipe can read ({message}), so gc cannot tell which artifacts it keeps: \
                     repair it or move it out of {}, then run gc again",
                    path.display(),
                    store.runs_dir().display()
                ),
                config: false,
            },
            e => e,
        })
    };
    // Per pipeline, oldest first: each run's id and record.
    let mut by_pipeline: BTreeMap<String, Vec<(String, RunRecord)>> = BTreeMap::new();
    for id in record::list(&store)? {
        let record = load(&id)?;
        by_pipeline.entry(record.pipeline.clone()).or_default().push((id, record));
    }
    let keep = args.keep.map_or(usize::MAX, |k| k as usize);
    // A finished job's artifact stays until a run adopts it (and records it).
    let mut referenced: HashSet<String> = jobs::recorded_keys(&store).into_iter().collect();
    // A job's log stays while a kept record names it, or while the job is recorded.
    let mut logs: HashSet<String> = jobs::recorded(&store).iter().map(|recipe| jobs::log_name(recipe)).collect();
    let mut dropped_runs = 0;
    for runs in by_pipeline.into_values() {
        // The newest `keep` whole, successful runs and every run since: a `--stage` run names
        // only part of the pipeline, a failed or interrupted one leaves its lock file naming
        // the artifacts of runs before for the instances it did not complete.
        let whole: Vec<usize> =
            runs.iter().enumerate().filter(|(_, r)| r.1.selected.is_empty() && r.1.ok).map(|(i, _)| i).collect();
        let cut = whole.len().checked_sub(keep).map_or(0, |first| whole[first]);
        for (id, _) in &runs[..cut] {
            dropped_runs += 1;
            if !args.dry_run {
                remove(&record::path(&store, id))?;
                remove(&record::journal_path(&store, id))?;
            }
        }
        for (id, kept) in runs.into_iter().skip(cut) {
            // gc holds the cache exclusively: no run is live, so this one was killed.
            if kept.in_progress {
                let done = kept.stages.iter().filter(|s| s.artifact.is_some()).count();
                println!(
                    "kept the {done} artifact(s) of run {id}, which was killed before it ended (its record says so)"
                );
            }
            for stage in kept.stages {
                referenced.extend(stage.key);
                logs.extend(stage.log);
            }
        }
    }
    let mut bytes = 0;
    let mut sweep = |gone: Vec<fs::DirEntry>| -> Result<usize, Error> {
        for entry in &gone {
            bytes += size(&entry.path());
            if !args.dry_run {
                remove(&entry.path())?;
            }
        }
        Ok(gone.len())
    };
    let unreferenced = |entry: &fs::DirEntry| !referenced.contains(&*entry.file_name().to_string_lossy());
    let objects = sweep(entries(&store.objects_dir())?.into_iter().filter(unreferenced).collect())?;
    let unnamed = |entry: &fs::DirEntry| !logs.contains(&jobs::in_logs(&entry.file_name().to_string_lossy()));
    let job_logs = sweep(entries(&store.root().join(jobs::LOGS))?.into_iter().filter(unnamed).collect())?;
    let quarantined = entries(&store.quarantine_dir())?;
    let leftovers = sweep(entries(&store.tmp_dir())?.into_iter().chain(quarantined).collect())?;
    let verb = if args.dry_run { "would remove" } else { "removed" };
    println!(
        "{verb} {objects} object(s), {leftovers} leftover(s) of interrupted runs or quarantined objects, {job_logs} cluster job log(s) and {dropped_runs} run record(s): {:.1} MB",
        bytes as f64 / 1e6
    );
    Ok(())
}

/// `pipe gc --remote FILE...`: the remote keeps the keys the pipelines resolve to, locally
/// or there, and the keys their lock files name; the rest uploaded before the cutoff goes.
fn collect_remote(args: Args, cache: &Path) -> Result<(), Error> {
    if args.files.is_empty() {
        return Err(Error::Config(
            "pipe gc --remote: name the pipeline files whose artifacts stay on the remote; everything else uploaded before --keep-recent (default 1h) is removed".into(),
        ));
    }
    let settings = config::required(
        &config::project_dir(args.files.first().map(PathBuf::as_path)),
        args.remote.remote.as_deref(),
    )?;
    // Not `write`: that would create a mistyped file:// directory; collect refuses a read-only remote itself.
    let remote = Remote::open(&settings, args.jobs, false)?;
    let store = Store::new(cache)?;
    let registry = Registry::builtin();
    let mut keep = HashSet::new();
    for file in &args.files {
        let plan = super::load(file, &[], &registry)?;
        let selection = plan.select(&[], false)?;
        // As pipe pull walks it: the remote's artifact hashes let downstream keys resolve.
        let lookup = |key: &str| Ok(remote.lookup(key)?.map(|e| e.artifact));
        let probes = probe_via(&plan, &registry, &store, &selection.run, Some(&lookup))?;
        let lock = lockfile::load(file)?;
        // Every upstream artifact known, yet no key: its deps read upstream outs the workspace
        // lacks. Its entry may well be on the remote, and only the lock file could name it.
        let unknown: Vec<&str> = (plan.instances.iter().zip(&probes))
            .filter(|(inst, p)| {
                p.as_ref().is_some_and(|p| {
                    matches!(p.state, State::Stale { key: None }) && p.inputs.iter().all(|(_, a)| a.is_some())
                }) && !lock.stages.contains_key(&inst.name)
            })
            .map(|(inst, _)| inst.name.as_str())
            .collect();
        if !unknown.is_empty() {
            return Err(Error::Failed {
                message: format!(
                    "pipe gc --remote: {}: the keys of {} wait for upstream outs the workspace lacks, and the lock \
                     file does not name them, so gc cannot tell which remote entries to keep; `pipe pull {}` puts \
                     the outs back. Nothing was removed",
                    file.display(),
                    unknown.join(", "),
                    file.display()
                ),
                config: false,
            });
        }
        keep.extend(probes.into_iter().flatten().filter_map(|p| Some(p.parts?.key())));
        keep.extend(lock.stages.into_values().map(|e| e.key));
    }
    let c = remote.collect(&keep, args.keep_recent.unwrap_or(KEEP_RECENT), args.dry_run)?;
    if c.clock_offset.abs() > CLOCK_NOTE {
        let (by, how) = (c.clock_offset.abs(), if c.clock_offset > 0.0 { "ahead of" } else { "behind" });
        eprintln!("note: the remote's clock is {by:.0} s {how} this machine's; --keep-recent counts on the remote's");
    }
    let verb = if args.dry_run { "would remove" } else { "removed" };
    let entries = |n: usize| if n == 1 { "1 entry".to_string() } else { format!("{n} entries") };
    let broken = match c.broken {
        0 => String::new(),
        n => format!(" ({n} of them broken: a file missing or the entry unreadable)"),
    };
    println!(
        "{verb} {}{broken} and {} file(s) ({:.1} MB) from {}; kept {} and {} file(s) ({:.1} MB)",
        entries(c.entries),
        c.files,
        c.bytes as f64 / 1e6,
        remote.location,
        entries(c.kept_entries),
        c.kept_files,
        c.kept_bytes as f64 / 1e6
    );
    if c.unfinished > 0 {
        let (n, mb) = (c.unfinished, c.unfinished_bytes as f64 / 1e6);
        println!("{verb} {n} unfinished upload(s) ({mb:.1} MB) that interrupted pushes left staged");
    }
    Ok(())
}

/// `90s`, `90m`, `12h`, `30d`.
fn parse_age(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}`: a whole number followed by s, m, h or d (90m, 12h, 30d)");
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    Ok(Duration::from_secs(n.saturating_mul(seconds)))
}

fn entries(dir: &Path) -> Result<Vec<fs::DirEntry>, Error> {
    match fs::read_dir(dir) {
        Ok(rd) => Ok(rd.flatten().collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(dir)(e)),
    }
}

/// Bytes under a path (best effort: it is only reported).
fn size(path: &Path) -> u64 {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::read_dir(path).map(|rd| rd.flatten().map(|e| size(&e.path())).sum()).unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_take_a_unit() {
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        for bad in ["12", "h", "1.5h", "-1h", "3w"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
