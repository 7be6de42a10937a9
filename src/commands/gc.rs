//! `pipe gc`: removes objects no kept run record references, leftovers of killed runs
//! and quarantined objects.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;

use crate::record;
use crate::store::{remove, Store};
use crate::Error;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe gc                 keep everything any run record references
  pipe gc --keep 3        keep only the last 3 runs of each pipeline, then collect
  pipe gc --dry-run")]
pub struct Args {
    /// Delete all but the newest N run records of each pipeline first
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: Option<u64>,
    /// Report what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
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
    let mut by_pipeline: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in record::list(&store)? {
        by_pipeline.entry(record::load(&store, &id)?.pipeline).or_default().push(id);
    }
    let keep = args.keep.map_or(usize::MAX, |k| k as usize);
    let mut referenced = HashSet::new();
    let mut dropped_runs = 0;
    for ids in by_pipeline.values() {
        let cut = ids.len().saturating_sub(keep);
        for id in &ids[..cut] {
            dropped_runs += 1;
            if !args.dry_run {
                remove(&record::path(&store, id))?;
            }
        }
        for id in &ids[cut..] {
            referenced.extend(record::load(&store, id)?.stages.into_iter().filter_map(|s| s.key));
        }
    }
    let (mut objects, mut bytes) = (0, 0);
    for entry in entries(&store.objects_dir())? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !referenced.contains(&name) {
            objects += 1;
            bytes += size(&entry.path());
            if !args.dry_run {
                remove(&entry.path())?;
            }
        }
    }
    let mut leftovers = 0;
    let quarantined = entries(&store.quarantine_dir())?;
    for entry in entries(&store.tmp_dir())?.into_iter().chain(quarantined) {
        leftovers += 1;
        bytes += size(&entry.path());
        if !args.dry_run {
            remove(&entry.path())?;
        }
    }
    let verb = if args.dry_run { "would remove" } else { "removed" };
    println!(
        "{verb} {objects} object(s), {leftovers} leftover(s) of interrupted runs or quarantined objects and {dropped_runs} run record(s): {:.1} MB",
        bytes as f64 / 1e6
    );
    Ok(())
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
