//! `pipe verify`: re-hashes objects against their stamps and manifests (as `git fsck`
//! or `restic check --read-data`), in parallel, and can quarantine what is corrupt.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::integrity::{self, Problem, Stamp};
use crate::lockfile;
use crate::mutex::lock;
use crate::store::Store;
use crate::Error;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe verify pipelines/final.yaml      the artifacts final.lock names
  pipe verify --all                     every object in the store
  pipe verify --all --repair --json     move corrupt objects to quarantine/, report as JSON")]
#[command(group(clap::ArgGroup::new("what").required(true).args(["file", "all"])))]
pub struct Args {
    /// Pipeline file: verify the artifacts its lock file names
    pub file: Option<PathBuf>,
    /// Verify every object in the store
    #[arg(long)]
    pub all: bool,
    /// Move corrupt objects to quarantine/, so the next run recomputes them
    #[arg(long)]
    pub repair: bool,
    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Summary {
    objects: usize,
    files: usize,
    bytes: u64,
    seconds: f64,
    /// Keys the lock file names that are not in the store (nothing to check).
    missing: Vec<String>,
    corrupt: Vec<Corrupt>,
    /// Intact objects whose artifact hash is not the one the lock file names.
    differs: Vec<Differs>,
}

#[derive(Serialize)]
struct Differs {
    key: String,
    artifact: String,
    lock_file: String,
}

#[derive(Serialize)]
struct Corrupt {
    key: String,
    problems: Vec<Problem>,
    /// Where `--repair` moved it.
    quarantined: Option<PathBuf>,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    let clock = Instant::now();
    let store = Store::new(cache)?;
    let wanted = match &args.file {
        Some(file) => expected(file)?,
        None => all_keys(&store)?,
    };
    // Shared: `pipe gc` cannot remove objects while they are being read.
    let _shared = if store.root().exists() { Some(store.lock_cache(false)?) } else { None };
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(wanted.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} verify [{bar:30}] {pos}/{len} objects {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let next = AtomicUsize::new(0);
    let summary = Mutex::new(Summary {
        objects: 0,
        files: 0,
        bytes: 0,
        seconds: 0.0,
        missing: Vec::new(),
        corrupt: Vec::new(),
        differs: Vec::new(),
    });
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(wanted.len().max(1));
    let check = || -> Result<(), Error> {
        while let Some((key, artifact)) = wanted.get(next.fetch_add(1, Ordering::Relaxed)) {
            let found = store.find(key)?;
            let problems = match &found {
                None => {
                    lock(&summary).missing.push(key.clone());
                    bar.inc(1);
                    continue;
                }
                Some(found) => {
                    let report = integrity::full(&found.dir, Stamp::read(&found.dir).as_ref());
                    let mut s = lock(&summary);
                    (s.objects, s.files, s.bytes) = (s.objects + 1, s.files + report.files, s.bytes + report.bytes);
                    report.problems
                }
            };
            // An intact object of another hash is no corruption: the lock file comes from
            // another store, or the stage does not make the same bytes twice.
            if let (Some(found), Some(want), true) = (&found, artifact, problems.is_empty()) {
                if found.hash != *want {
                    let differs = Differs { key: key.clone(), artifact: found.hash.clone(), lock_file: want.clone() };
                    lock(&summary).differs.push(differs);
                }
            }
            if !problems.is_empty() {
                let quarantined = if args.repair { store.quarantine(key)? } else { None };
                lock(&summary).corrupt.push(Corrupt { key: key.clone(), problems, quarantined });
            }
            bar.inc(1);
        }
        Ok(())
    };
    let results: Vec<Result<(), Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(check)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::Busy("a verify thread panicked".into()))))
            .collect()
    });
    bar.finish_and_clear();
    results.into_iter().collect::<Result<Vec<()>, Error>>()?;
    let mut summary = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    summary.corrupt.sort_by(|a, b| a.key.cmp(&b.key));
    summary.differs.sort_by(|a, b| a.key.cmp(&b.key));
    summary.missing.sort();
    summary.seconds = clock.elapsed().as_secs_f64();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary).map_err(Error::corrupt(store.root()))?);
    } else {
        print!("{}", text(&summary));
    }
    if summary.corrupt.is_empty() {
        if summary.differs.is_empty() {
            return Ok(());
        }
        let message = format!(
            "{} intact object(s) differ from the lock file: the lock file comes from another store, or the stage \
             does not make the same bytes twice; `pipe run --force --stage S` recomputes one",
            summary.differs.len()
        );
        return Err(Error::Failed { message, config: false });
    }
    let done = if args.repair {
        "quarantined; the next run recomputes them"
    } else {
        "`pipe verify --repair` quarantines them"
    };
    Err(Error::Failed { message: format!("{} corrupt object(s): {done}", summary.corrupt.len()), config: false })
}

fn text(s: &Summary) -> String {
    let mut out = String::new();
    for c in &s.corrupt {
        for p in &c.problems {
            out.push_str(&format!("corrupt {} {}: {}\n", c.key, p.path, p.problem));
        }
        if let Some(to) = &c.quarantined {
            out.push_str(&format!("quarantined {} -> {}\n", c.key, to.display()));
        }
    }
    for d in &s.differs {
        out.push_str(&format!("differs {}: artifact hash {}, the lock file says {}\n", d.key, d.artifact, d.lock_file));
    }
    for key in &s.missing {
        out.push_str(&format!("missing {key} (named by the lock file, not in the store)\n"));
    }
    out.push_str(&format!(
        "verified {} object(s), {} file(s), {:.1} MB in {:.2}s: {} corrupt{}{}\n",
        s.objects,
        s.files,
        s.bytes as f64 / 1e6,
        s.seconds,
        s.corrupt.len(),
        match s.differs.len() {
            0 => String::new(),
            n => format!(", {n} differing from the lock file"),
        },
        match s.missing.len() {
            0 => String::new(),
            n => format!(", {n} missing (`pipe pull` or `pipe run` brings them)"),
        }
    ));
    out
}

/// The keys (and artifact hashes) the pipeline's lock file names.
fn expected(file: &Path) -> Result<Vec<(String, Option<String>)>, Error> {
    let path = lockfile::path_for(file);
    if !path.exists() {
        return Err(Error::Config(format!("{} does not exist: run the pipeline first, or use --all", path.display())));
    }
    let mut keys: Vec<(String, Option<String>)> =
        lockfile::load(file)?.stages.into_values().map(|e| (e.key, Some(e.artifact))).collect();
    keys.sort();
    keys.dedup();
    Ok(keys)
}

fn all_keys(store: &Store) -> Result<Vec<(String, Option<String>)>, Error> {
    Ok(store.keys()?.into_iter().map(|k| (k, None)).collect())
}
