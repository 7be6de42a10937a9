//! Per-out locks, `<cache>/locks/out-<blake3 of the out's resolved path>.lock`. A key lock
//! keeps two runs from computing one key, but two runs of different keys write the same
//! workspace out: one's command could overwrite the out the other is about to capture, and
//! its artifact would hold the other's result under its own key. So a run holds the lock
//! of each declared out from before its command starts until its artifact is committed (and
//! of each upstream out the command reads, which no one may rewrite meanwhile), and a
//! restore (`run`, `pull`, `checkout`) holds it while it writes the out. The holder writes
//! who it is, and whether it writes or reads the out, into the file, so a waiter and
//! `pipe status` can name it.

use std::fs::{self, File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use pipe_stages::workspace::{normal, resolve, Last};

use crate::store::{lock_waiting, open_lock, read_only, Store};
use crate::Error;

/// Holding this means no other process writes these outs.
pub struct OutLocks {
    _files: Vec<File>,
}

/// Who holds an out's lock, as its lock file says.
#[derive(Debug)]
pub struct Holder {
    /// It writes the out (a stage's own out, a restore); otherwise a stage reads it.
    pub writes: bool,
    /// `pipe process 4242 (stage `a` of p.yaml)`.
    pub who: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, which {} it", self.who, if self.writes { "writes" } else { "reads" })
    }
}

/// The lock file's first word: what the holder does with the out.
const WRITES: &str = "writes";
const READS: &str = "reads";

/// The lock file of workspace out `out` of the pipeline in `workdir`: named by where the
/// out leads, so every spelling of one path (and every pipeline writing it) shares it.
fn path(store: &Store, workdir: &Path, out: &str) -> PathBuf {
    let at = resolve(workdir, out, Last::Keep).unwrap_or_else(|_| workdir.join(normal(out)));
    let name = blake3::hash(at.as_os_str().as_encoded_bytes()).to_hex();
    store.root().join("locks").join(format!("out-{}.lock", &name[..32]))
}

/// Takes the locks of the outs the holder `writes` and of those it `reads` (in one order, so
/// two runs never wait on each other), recording `holder`; `waiting` gets an out and who
/// holds it before the wait for a lock another process holds.
pub fn acquire(
    store: &Store,
    workdir: &Path,
    writes: &[String],
    reads: &[String],
    holder: &str,
    waiting: &dyn Fn(&str, &Holder),
) -> Result<OutLocks, Error> {
    let uses = writes.iter().map(|o| (o, true)).chain(reads.iter().map(|o| (o, false)));
    // Sorted by lock file, an out both written and read first as written: the dedup keeps it.
    let mut paths: Vec<(PathBuf, bool, &String)> = uses.map(|(o, w)| (path(store, workdir, o), !w, o)).collect();
    paths.sort();
    paths.dedup_by(|a, b| a.0 == b.0);
    let mut files = Vec::with_capacity(paths.len());
    for (lock, reads, out) in paths {
        let Some(mut file) = open(store, &lock)? else { continue };
        // Readers share an out; a writer has it alone.
        lock_waiting(&file, &lock, reads, || waiting(out, &described(&lock)))?;
        let word = if reads { READS } else { WRITES };
        // Only a description for waiters: a failure to write it must not stop the run.
        let _ = file
            .set_len(0)
            .and_then(|()| file.write_all(format!("{word} pipe process {} ({holder})", std::process::id()).as_bytes()));
        files.push(file);
    }
    Ok(OutLocks { _files: files })
}

/// The lock file `lock`, opened to be locked. In a cache this user cannot write (a team's
/// shared one), an existing lock file opens read-only, which flock accepts: a `pipe run` by
/// someone who can write the cache is still kept out. None when it does not exist and
/// cannot be made: on a read-only mount no run can use the cache at all; otherwise no run
/// of it has written this out yet, and the restore goes on unlocked rather than fail.
fn open(store: &Store, lock: &Path) -> Result<Option<File>, Error> {
    let dir = lock.parent().unwrap_or(store.root());
    let made = fs::create_dir_all(dir).map_err(Error::io(dir)).and_then(|()| open_lock(lock));
    match made {
        Err(Error::Io { source, .. }) if read_only(&source) => match File::open(lock) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(lock)(e)),
        },
        other => other.map(Some),
    }
}

/// Who holds the lock of workspace out `out` now, if anyone. Creates nothing (`pipe status`
/// is read-only); a lock file no one holds means no one.
pub fn holder(store: &Store, workdir: &Path, out: &str) -> Result<Option<Holder>, Error> {
    let lock = path(store, workdir, out);
    let file = match File::open(&lock) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&lock)(e)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(described(&lock))),
        Err(TryLockError::Error(e)) => Err(Error::io(&lock)(e)),
    }
}

/// The holder a lock file names; while the holder has yet to write it, another pipe process,
/// taken to write the out.
fn described(lock: &Path) -> Holder {
    let text = fs::read_to_string(lock).unwrap_or_default();
    match text.split_once(' ') {
        Some((READS, who)) => Holder { writes: false, who: who.into() },
        Some((WRITES, who)) => Holder { writes: true, who: who.into() },
        _ if text.is_empty() => Holder { writes: true, who: "another pipe process".into() },
        // Written by a pipe from before the lock said which.
        _ => Holder { writes: true, who: text },
    }
}
