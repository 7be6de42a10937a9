//! The artifact store:
//!
//! ```text
//! <cache>/objects/<key>/   the artifact: stage files + manifest.json, params.json, metrics.json, key.json
//! <cache>/tmp/<key>-<pid>/ an artifact being computed (renamed into objects/ on success)
//! <cache>/locks/<key>.lock per-key lock: one process computes a key at a time
//! <cache>/runs/<id>.json   run records
//! <cache>/gc.lock          held shared by runs, exclusively by `pipe gc`
//! ```
//!
//! An object directory exists only once complete (the rename is atomic), so a
//! crash or SIGKILL leaves at most a tmp directory, which the next computation
//! of that key (or `pipe gc`) removes.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use pipe_stages::shell::{hash_tree, FileHash};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::key::KeyParts;
use crate::{atomic, Error};

pub const MANIFEST: &str = "manifest.json";
pub const PARAMS: &str = "params.json";
pub const METRICS: &str = "metrics.json";
pub const KEY: &str = "key.json";
/// Metadata the engine writes beside a stage's files; a stage may not use these names.
const RESERVED: [&str; 4] = [MANIFEST, PARAMS, METRICS, KEY];

/// Every file a stage wrote, with size and blake3. Its own blake3 is the artifact hash.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub files: Vec<FileHash>,
}

/// key.json: the key and what it was made of.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyFile {
    pub key: String,
    #[serde(flatten)]
    pub parts: KeyParts,
}

/// A complete artifact in the store.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub key: String,
    /// blake3 of manifest.json.
    pub hash: String,
    pub dir: PathBuf,
}

pub struct Store {
    root: PathBuf,
}

/// Holding this means no other process is computing the key.
pub struct KeyLock {
    _file: File,
}

/// Holding this keeps `pipe gc` out (shared) or runs out (exclusive).
pub struct CacheLock {
    _file: File,
}

impl Store {
    /// Opens the store at `root` without creating anything (read-only commands leave no trace).
    pub fn new(root: &Path) -> Result<Store, Error> {
        Ok(Store { root: std::path::absolute(root).map_err(Error::io(root))? })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn object_dir(&self, key: &str) -> PathBuf {
        self.root.join("objects").join(key)
    }

    pub fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// The complete artifact for `key`, if there is one.
    pub fn lookup(&self, key: &str) -> Result<Option<Artifact>, Error> {
        let dir = self.object_dir(key);
        let manifest = dir.join(MANIFEST);
        match fs::read(&manifest) {
            Ok(bytes) => Ok(Some(Artifact { key: key.to_string(), hash: blake3::hash(&bytes).to_hex().to_string(), dir })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(manifest)(e)),
        }
    }

    /// Waits for the key's lock; `waiting` is called first if another process holds it.
    pub fn lock(&self, key: &str, waiting: impl FnOnce()) -> Result<KeyLock, Error> {
        let dir = self.root.join("locks");
        fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let file = open_lock(&dir.join(format!("{key}.lock")))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                waiting();
                file.lock().map_err(Error::io(dir.join(key)))?;
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(dir.join(key))(e)),
        }
        Ok(KeyLock { _file: file })
    }

    /// A fresh private directory to compute `key` into. Leftovers of the same
    /// key can only come from killed runs, since the caller holds the key lock.
    pub fn begin(&self, key: &str, _lock: &KeyLock) -> Result<PathBuf, Error> {
        let tmp = self.tmp_dir();
        fs::create_dir_all(&tmp).map_err(Error::io(&tmp))?;
        let prefix = format!("{key}-");
        for entry in fs::read_dir(&tmp).map_err(Error::io(&tmp))?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                remove(&entry.path())?;
            }
        }
        let dir = tmp.join(format!("{key}-{}", std::process::id()));
        fs::create_dir(&dir).map_err(Error::io(&dir))?;
        Ok(dir)
    }

    /// Seals a computed directory: writes the metadata and renames it into
    /// place, replacing an existing object (for `--force`).
    pub fn commit(&self, tmp: &Path, parts: &KeyParts, metrics: &Map<String, Value>, _lock: &KeyLock) -> Result<Artifact, Error> {
        if let Some(name) = RESERVED.iter().find(|n| tmp.join(n).exists()) {
            return Err(Error::Failed {
                message: format!("the stage wrote `{name}`, a file name the engine reserves for artifact metadata"),
                config: false,
            });
        }
        let key = parts.key();
        let files = hash_tree(tmp).map_err(|e| Error::Corrupt { path: tmp.to_path_buf(), message: e.to_string() })?;
        atomic::write_json(&tmp.join(PARAMS), &parts.params)?;
        atomic::write_json(&tmp.join(METRICS), metrics)?;
        atomic::write_json(&tmp.join(KEY), &KeyFile { key: key.clone(), parts: parts.clone() })?;
        let manifest = atomic::write_json(&tmp.join(MANIFEST), &Manifest { files })?;
        let dest = self.object_dir(&key);
        let objects = self.objects_dir();
        fs::create_dir_all(&objects).map_err(Error::io(&objects))?;
        if dest.exists() {
            let old = self.tmp_dir().join(format!("{key}-{}-replaced", std::process::id()));
            fs::rename(&dest, &old).map_err(Error::io(&dest))?;
            fs::rename(tmp, &dest).map_err(Error::io(&dest))?;
            remove(&old)?;
        } else {
            fs::rename(tmp, &dest).map_err(Error::io(&dest))?;
        }
        Ok(Artifact { key, hash: blake3::hash(&manifest).to_hex().to_string(), dir: dest })
    }

    /// Moves a complete object directory that was filled and verified outside a stage
    /// (a download from a remote, in a directory from [`Store::begin`]) into place.
    /// An object that appeared meanwhile is kept and the directory removed.
    pub fn adopt(&self, tmp: &Path, key: &str, _lock: &KeyLock) -> Result<Artifact, Error> {
        let dest = self.object_dir(key);
        if dest.exists() {
            remove(tmp)?;
        } else {
            let objects = self.objects_dir();
            fs::create_dir_all(&objects).map_err(Error::io(&objects))?;
            fs::rename(tmp, &dest).map_err(Error::io(&dest))?;
        }
        self.lookup(key)?.ok_or_else(|| Error::Corrupt { path: dest, message: format!("no {MANIFEST}") })
    }

    /// Throws away a failed computation.
    pub fn discard(&self, tmp: &Path) -> Result<(), Error> {
        remove(tmp)
    }

    /// Runs hold this shared for their whole duration; `pipe gc` takes it exclusively.
    pub fn lock_cache(&self, exclusive: bool) -> Result<CacheLock, Error> {
        fs::create_dir_all(&self.root).map_err(Error::io(&self.root))?;
        let path = self.root.join("gc.lock");
        let file = open_lock(&path)?;
        if exclusive {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Busy(format!("a `pipe run` is using {}; retry when it has finished", self.root.display())))
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(path)(e)),
            }
        } else {
            file.lock_shared().map_err(Error::io(&path))?;
        }
        Ok(CacheLock { _file: file })
    }
}

impl Artifact {
    pub fn metrics(&self) -> Result<Map<String, Value>, Error> {
        read_json(&self.dir.join(METRICS))
    }

    pub fn manifest(&self) -> Result<Manifest, Error> {
        read_json(&self.dir.join(MANIFEST))
    }
}

/// key.json of an object, if the object still exists.
pub fn key_file(store: &Store, key: &str) -> Result<Option<KeyFile>, Error> {
    let path = store.object_dir(key).join(KEY);
    if !path.exists() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let bytes = fs::read(path).map_err(Error::io(path))?;
    serde_json::from_slice(&bytes).map_err(Error::corrupt(path))
}

/// Removes a file or directory tree; a path already gone is fine.
pub fn remove(path: &Path) -> Result<(), Error> {
    let result = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    result.map_err(Error::io(path))
}

fn open_lock(path: &Path) -> Result<File, Error> {
    OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(Error::io(path))
}
