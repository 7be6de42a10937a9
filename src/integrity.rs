//! Whether a committed object still holds what was committed. At commit the store
//! writes `stamp.json`: size, mtime, blake3 and execute bit of every file of the object
//! (stage files and metadata alike), and its empty directories. The cheap check lists
//! the object's files and empty directories (one added since is a mismatch) and compares
//! sizes, mtimes and execute bits with one `stat` per file; only a mismatch pays for the
//! full check, which re-hashes every file against the stamp and the manifest, as
//! `pipe verify` does for every object and a run does for each object a stage reads.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use pipe_stages::tree::{self, hash_file, FileHash};
use serde::{Deserialize, Serialize};

use crate::store::{Manifest, MANIFEST, RESERVED, STAMP};
use crate::Error;

/// stamp.json: every file of an object as committed, and its empty directories.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stamp {
    pub files: Vec<Stamped>,
    /// Written even when empty: a stamp without it is from before the checks listed
    /// directories, and may be on an object from before manifests listed empty ones,
    /// which can hold an unlisted one; such a stamp lets any empty directory pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dirs: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stamped {
    #[serde(flatten)]
    pub file: FileHash,
    /// Modification time: seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exec: bool,
}

/// One thing wrong with an object.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Relative to the object directory.
    pub path: String,
    pub problem: String,
}

/// What the full check found: the problems (none: intact) and the bytes it read.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<Problem>,
    pub files: usize,
    pub bytes: u64,
}

impl Stamp {
    /// Stamps an object directory whose stage files `manifest` lists (already hashed);
    /// the engine's metadata files are hashed here.
    pub fn of(dir: &Path, manifest: &Manifest) -> Result<Stamp, Error> {
        let mut files = Vec::new();
        for file in &manifest.files {
            let (mtime, exec) = stat(&dir.join(&file.path))?;
            files.push(Stamped { mtime, exec, file: file.clone() });
        }
        for name in RESERVED.iter().filter(|n| **n != STAMP) {
            let path = dir.join(name);
            let (size, blake3) =
                hash_file(&path).map_err(|e| Error::Corrupt { path: path.clone(), message: e.to_string() })?;
            let (mtime, exec) = stat(&path)?;
            files.push(Stamped { file: FileHash { path: name.to_string(), size, blake3 }, mtime, exec });
        }
        Ok(Stamp { files, empty_dirs: Some(manifest.empty_dirs.clone()) })
    }

    pub fn read(dir: &Path) -> Option<Stamp> {
        serde_json::from_slice(&fs::read(dir.join(STAMP)).ok()?).ok()
    }

    /// The cheap check: the object holds the stamped files and empty directories and no
    /// other (a stray one would reach the stages reading it), each file still a regular
    /// file of the stamped size, mtime and execute bit.
    pub fn matches(&self, dir: &Path) -> bool {
        let Ok(tree::Listing { files: found, empty_dirs }) = tree::listing(dir) else { return false };
        let mut found: Vec<&str> = found.iter().map(|(rel, _)| rel.as_str()).filter(|rel| *rel != STAMP).collect();
        let mut stamped: Vec<&str> = self.files.iter().map(|s| s.file.path.as_str()).collect();
        found.sort_unstable();
        stamped.sort_unstable();
        found == stamped
            && self.files.iter().all(|s| {
                fs::symlink_metadata(dir.join(&s.file.path)).is_ok_and(|m| {
                    m.is_file()
                        && m.len() == s.file.size
                        && (m.mtime(), m.mtime_nsec()) == s.mtime
                        && (m.mode() & 0o100 != 0) == s.exec
                })
            })
            && self.empty_dirs.as_ref().is_none_or(|stamped| *stamped == empty_dirs)
    }
}

/// Modification time (seconds and nanoseconds since the epoch) and execute bit.
fn stat(path: &Path) -> Result<((i64, i64), bool), Error> {
    let meta = fs::symlink_metadata(path).map_err(Error::io(path))?;
    Ok(((meta.mtime(), meta.mtime_nsec()), meta.mode() & 0o100 != 0))
}

/// The full check: re-hashes every file of the object and compares it with the stamp
/// (when there is one) and the manifest. Extra, missing or changed files are problems.
pub fn full(dir: &Path, stamp: Option<&Stamp>) -> Report {
    let mut report = Report::default();
    let mut problems = Vec::new();
    let found = match tree::hash_tree(dir) {
        Ok(found) => found,
        Err(e) => {
            problems.push(problem(".", e.to_string()));
            return Report { problems, ..report };
        }
    };
    let found: BTreeMap<&str, &FileHash> =
        found.iter().filter(|f| f.path != STAMP).map(|f| (f.path.as_str(), f)).collect();
    report.files = found.len();
    report.bytes = found.values().map(|f| f.size).sum();
    let manifest: Option<Manifest> = fs::read(dir.join(MANIFEST)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let mut expected: BTreeMap<&str, &FileHash> = BTreeMap::new();
    match &manifest {
        Some(m) => expected.extend(m.files.iter().map(|f| (f.path.as_str(), f))),
        None => problems.push(problem(MANIFEST, "missing or not a valid manifest".into())),
    }
    if let Some(stamp) = stamp {
        for s in &stamp.files {
            let listed = expected.insert(s.file.path.as_str(), &s.file);
            if listed.is_some_and(|m| *m != s.file) {
                problems.push(problem(&s.file.path, "the manifest and stamp.json disagree".into()));
            }
        }
    }
    for (path, want) in &expected {
        match found.get(path) {
            None => problems.push(problem(path, "missing".into())),
            Some(got) if got.size != want.size => {
                problems.push(problem(path, format!("{} bytes, {} expected", got.size, want.size)))
            }
            Some(got) if got.blake3 != want.blake3 => {
                problems.push(problem(path, format!("blake3 {}, {} expected", short(&got.blake3), short(&want.blake3))))
            }
            Some(_) => {}
        }
    }
    for path in found.keys().filter(|p| !expected.contains_key(*p) && !RESERVED.contains(p)) {
        problems.push(problem(path, "not in the manifest".into()));
    }
    if let Some(manifest) = &manifest {
        problems.extend(shape_problems(dir, manifest, stamp.and_then(|s| s.empty_dirs.as_deref())));
    }
    Report { problems, ..report }
}

/// Where the object's empty directories and execute bits differ from the manifest's. An
/// empty directory neither the manifest nor the stamp lists is a problem only where the
/// stamp lists them (`Stamp::empty_dirs`): objects from before manifests listed them may
/// hold one.
fn shape_problems(dir: &Path, manifest: &Manifest, stamped: Option<&[String]>) -> Vec<Problem> {
    let shape = match tree::shape(dir) {
        Ok(shape) => shape,
        Err(e) => return vec![problem(".", e.to_string())],
    };
    let mut problems = Vec::new();
    for rel in manifest.empty_dirs.iter().filter(|d| !dir.join(d).is_dir()) {
        problems.push(problem(rel, "an empty directory of the manifest, missing".into()));
    }
    if let Some(stamped) = stamped {
        let stray = shape.empty_dirs.iter().filter(|d| !manifest.empty_dirs.contains(d) && !stamped.contains(d));
        problems.extend(stray.map(|rel| problem(rel, "an empty directory the manifest does not list".into())));
    }
    for rel in manifest.executable.iter().filter(|f| !shape.executable.contains(f)) {
        problems.push(problem(rel, "lost its execute bit".into()));
    }
    for rel in shape.executable.iter().filter(|f| !manifest.executable.contains(f)) {
        problems.push(problem(rel, "executable, which the manifest does not say".into()));
    }
    problems
}

fn problem(path: &str, what: String) -> Problem {
    Problem { path: path.to_string(), problem: what }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
