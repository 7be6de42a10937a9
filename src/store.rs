//! The artifact store:
//!
//! ```text
//! <cache>/objects/<key>/   the artifact: stage files + manifest.json, params.json, metrics.json, key.json,
//!                          stamp.json; read-only (a shell out of one of these names lies
//!                          under outs.pipe/: `pipe_stages::workspace::in_artifact`)
//! <cache>/tmp/<key>-<pid>/ an artifact being computed (renamed into objects/ on success)
//! <cache>/quarantine/<key>-<time>/ a corrupt object moved aside (`pipe gc` removes it)
//! <cache>/locks/<key>.lock per-key lock: one process computes a key at a time
//! <cache>/runs/<id>.json   run records
//! <cache>/runs/<id>.journal the stages of a run in progress (`record::Journal`)
//! <cache>/gc.lock          held shared by runs, exclusively by `pipe gc`
//! ```
//!
//! An object directory exists only once complete (its files are synced before the
//! atomic rename, its parent after it), so a crash, SIGKILL or power loss leaves at
//! most a tmp directory, which the next computation of that key (or `pipe gc`)
//! removes. Every lookup checks the object against its stamp (see `integrity`); a
//! corrupt object is quarantined and counts as missing, so it is recomputed.
//!
//! Writing into the store from elsewhere (a remote cache, say): take the key's
//! [`Store::lock`], fill [`Store::begin`]'s directory with the stage files and the
//! metadata files, then [`Store::import`] verifies every file against the manifest
//! and seals the object, or refuses it.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pipe_stages::tree::{self, hash_tree, FileHash, Shape};
use pipe_stages::workspace::{in_artifact, normal, within};
pub use pipe_stages::workspace::{KEY, MANIFEST, METRICS, PARAMS, RESERVED, STAMP};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::integrity::{self, Problem, Stamp};
use crate::key::KeyParts;
use crate::mutex::lock;
use crate::{atomic, durable, seal, workspace, Error};

/// Every file a stage wrote, with size and blake3, and the rest of the tree's [`Shape`].
/// Its own blake3 is the artifact hash; the shape's lists are left out when empty, so
/// an artifact without empty directories or executables hashes as it did before them.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub files: Vec<FileHash>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub empty_dirs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executable: Vec<String>,
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
    /// Keys of corrupt objects left in place in a cache this user cannot write: missing
    /// from then on, without another hash or warning.
    left_corrupt: Mutex<HashSet<String>>,
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
        if std::fs::metadata(root).is_ok_and(|m| !m.is_dir()) {
            return Err(Error::Config(format!("cache {}: not a directory (--cache or $PIPE_CACHE)", root.display())));
        }
        Ok(Store { root: std::path::absolute(root).map_err(Error::io(root))?, left_corrupt: Mutex::default() })
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

    /// The keys of every stored object, sorted; none in a store not yet written to. An
    /// objects directory that cannot be read is an error, not an empty store.
    pub fn keys(&self) -> Result<Vec<String>, Error> {
        let dir = self.objects_dir();
        let mut keys: Vec<String> = match fs::read_dir(&dir) {
            Ok(entries) => entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(dir)(e)),
        };
        keys.sort();
        Ok(keys)
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// The complete, intact artifact for `key`, if there is one. The object is checked
    /// against its stamp first (sizes and mtimes; a mismatch re-hashes every file): a
    /// corrupt object is quarantined with a warning and reported missing.
    pub fn lookup(&self, key: &str) -> Result<Option<Artifact>, Error> {
        if lock(&self.left_corrupt).contains(key) {
            return Ok(None);
        }
        let Some(artifact) = self.find(key)? else { return Ok(None) };
        let stamp = Stamp::read(&artifact.dir);
        if stamp.as_ref().is_some_and(|s| s.matches(&artifact.dir)) {
            return Ok(Some(artifact));
        }
        let report = integrity::full(&artifact.dir, stamp.as_ref());
        if report.problems.is_empty() {
            // Objects from before stamps, or touched without a change: stamp them afresh. In a
            // cache this user cannot write, the hash just made vouches for it; it stays unstamped.
            match self.restamp(&artifact.dir) {
                Err(Error::Io { source, .. }) if read_only(&source) => {}
                stamped => stamped?,
            }
            return Ok(Some(artifact));
        }
        // None: another process moved it first and has warned.
        if let Some(moved) = self.set_aside(key)? {
            eprintln!("warning: {}; {moved}; it will be recomputed", describe(key, &report.problems));
        }
        Ok(None)
    }

    /// Re-hashes the object of `artifact` whatever its mtimes say, for a reader about to
    /// use it: bit rot keeps sizes and mtimes, so the stat check of [`Store::lookup`]
    /// passes it. A corrupt object is quarantined, and the error says what is wrong
    /// and where it went.
    pub fn rehash(&self, artifact: &Artifact) -> Result<(), Error> {
        let report = integrity::full(&artifact.dir, Stamp::read(&artifact.dir).as_ref());
        if report.problems.is_empty() {
            return Ok(());
        }
        let moved = self.set_aside(&artifact.key)?.unwrap_or_else(|| "another process moved it to quarantine".into());
        Err(Error::CorruptObject(format!("{}; {moved}", describe(&artifact.key, &report.problems))))
    }

    /// Quarantines the corrupt object of `key` and says where it went; None when another
    /// process moved it first. In a cache this user cannot write (a team's shared one) it
    /// stays, taken as missing, and the words say who can move it.
    fn set_aside(&self, key: &str) -> Result<Option<String>, Error> {
        match self.quarantine(key) {
            Ok(to) => Ok(to.map(|to| format!("moved to {}", to.display()))),
            Err(Error::Io { source, .. }) if read_only(&source) => {
                lock(&self.left_corrupt).insert(key.to_string());
                Ok(Some(format!(
                    "left in place, as this cache is read-only to you ({source}): `pipe verify --repair` by its \
                     owner quarantines it"
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// The object for `key` as it is, unchecked (for `pipe verify`).
    pub fn find(&self, key: &str) -> Result<Option<Artifact>, Error> {
        let dir = self.object_dir(key);
        let manifest = dir.join(MANIFEST);
        match fs::read(&manifest) {
            Ok(bytes) => {
                Ok(Some(Artifact { key: key.to_string(), hash: blake3::hash(&bytes).to_hex().to_string(), dir }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(manifest)(e)),
        }
    }

    /// Moves the object of `key` to `quarantine/`, where nothing reads it; returns
    /// where it went, or `None` when it was already gone.
    pub fn quarantine(&self, key: &str) -> Result<Option<PathBuf>, Error> {
        let from = self.object_dir(key);
        let dir = self.quarantine_dir();
        fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let to = dir.join(format!("{key}-{}.{:09}", since.as_secs(), since.subsec_nanos()));
        // Moving a directory to another parent needs write permission on it.
        seal::unseal(&from)?;
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&from)(e)),
        }
        durable::sync(&self.objects_dir())?;
        Ok(Some(to))
    }

    /// Whether some object holds exactly `files` (as `workspace::contents` lists them)
    /// at and under workspace path `rel`, by its manifest: a workspace out that pipe wrote.
    pub fn holds(&self, rel: &str, files: &[(String, String)]) -> Result<bool, Error> {
        let dir = self.objects_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(dir)(e)),
        };
        for entry in entries.flatten() {
            // An object being removed or damaged holds nothing to compare with.
            let Ok(manifest) = read_json::<Manifest>(&entry.path().join(MANIFEST)) else { continue };
            if manifest.under(rel).as_deref() == Some(files) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Writes a fresh stamp into an intact object (briefly making it writable). It lists
    /// the empty directories the object holds: an object from before manifests listed
    /// them may hold one the manifest does not.
    fn restamp(&self, dir: &Path) -> Result<(), Error> {
        let manifest: Manifest = read_json(&dir.join(MANIFEST))?;
        let shape = tree::shape(dir).map_err(|e| Error::Corrupt { path: dir.to_path_buf(), message: e.to_string() })?;
        let stamp = Stamp { empty_dirs: Some(shape.empty_dirs), ..Stamp::of(dir, &manifest)? };
        seal::unseal(dir)?;
        let written = atomic::write_json(&dir.join(STAMP), &stamp).map(drop);
        seal::seal(dir)?;
        seal::close(dir)?;
        written
    }

    /// Waits for the key's lock; `waiting` is called first if another process holds it.
    pub fn lock(&self, key: &str, waiting: impl FnOnce()) -> Result<KeyLock, Error> {
        let dir = self.root.join("locks");
        fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let file = open_lock(&dir.join(format!("{key}.lock")))?;
        lock_waiting(&file, &dir.join(key), false, waiting)?;
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
    pub fn commit(
        &self,
        tmp: &Path,
        parts: &KeyParts,
        metrics: &Map<String, Value>,
        _lock: &KeyLock,
    ) -> Result<Artifact, Error> {
        if let Some(name) = RESERVED.iter().find(|n| tmp.join(n).exists()) {
            return Err(Error::Failed {
                message: format!("the stage wrote `{name}`, a file name the engine reserves for artifact metadata"),
                config: false,
            });
        }
        let key = parts.key();
        // Links are refused: sealing or hashing through one would reach outside the store.
        let output = |e| Error::Failed { message: format!("the stage's output: {e}"), config: false };
        let files = hash_tree(tmp).map_err(output)?;
        let Shape { empty_dirs, executable } = tree::shape(tmp).map_err(output)?;
        write_json(&tmp.join(PARAMS), &parts.params)?;
        write_json(&tmp.join(METRICS), metrics)?;
        write_json(&tmp.join(KEY), &KeyFile { key: key.clone(), parts: parts.clone() })?;
        let manifest = Manifest { files, empty_dirs, executable };
        let bytes = write_json(&tmp.join(MANIFEST), &manifest)?;
        self.seal_into(tmp, &key, &manifest, &bytes)
    }

    /// Commits a directory filled elsewhere (a remote cache): it must hold the stage
    /// files and `manifest.json`, `params.json`, `metrics.json` and `key.json` for `key`.
    /// The manifest's empty directories and execute bits are applied (a remote carries
    /// contents only), then every file is re-hashed against it; any difference refuses it.
    pub fn import(&self, tmp: &Path, key: &str, _lock: &KeyLock) -> Result<Artifact, Error> {
        let keyfile: KeyFile = read_json(&tmp.join(KEY))?;
        if keyfile.key != key {
            let message = format!("holds key {}, not {key}", keyfile.key);
            return Err(Error::Corrupt { path: tmp.join(KEY), message });
        }
        let bytes = fs::read(tmp.join(MANIFEST)).map_err(Error::io(tmp.join(MANIFEST)))?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(Error::corrupt(tmp.join(MANIFEST)))?;
        apply_shape(tmp, &manifest)?;
        let report = integrity::full(tmp, None);
        if !report.problems.is_empty() {
            return Err(Error::Corrupt { path: tmp.to_path_buf(), message: describe(key, &report.problems) });
        }
        self.seal_into(tmp, key, &manifest, &bytes)
    }

    /// Stamps, syncs and write-protects `tmp`, then renames it into place (replacing an
    /// existing object, for `--force`) and syncs the objects directory.
    fn seal_into(&self, tmp: &Path, key: &str, manifest: &Manifest, bytes: &[u8]) -> Result<Artifact, Error> {
        write_json(&tmp.join(STAMP), &Stamp::of(tmp, manifest)?)?;
        seal::seal(tmp)?;
        let dest = self.object_dir(key);
        let objects = self.objects_dir();
        fs::create_dir_all(&objects).map_err(Error::io(&objects))?;
        if dest.exists() {
            let old = self.tmp_dir().join(format!("{key}-{}-replaced", std::process::id()));
            seal::unseal(&dest)?;
            fs::rename(&dest, &old).map_err(Error::io(&dest))?;
            fs::rename(tmp, &dest).map_err(Error::io(&dest))?;
            remove(&old)?;
        } else {
            fs::rename(tmp, &dest).map_err(Error::io(&dest))?;
        }
        durable::sync(&objects)?;
        seal::close(&dest)?;
        Ok(Artifact { key: key.to_string(), hash: blake3::hash(bytes).to_hex().to_string(), dir: dest })
    }

    /// Throws away a failed computation.
    pub fn discard(&self, tmp: &Path) -> Result<(), Error> {
        remove(tmp)
    }

    /// Runs hold this shared for their whole duration; `pipe gc` takes it exclusively.
    pub fn lock_cache(&self, exclusive: bool) -> Result<CacheLock, Error> {
        let path = self.root.join("gc.lock");
        // Every command taking this lock writes the cache: a read-only one is named as such.
        let file = fs::create_dir_all(&self.root).and_then(|()| open_lock_io(&path)).map_err(|e| {
            if read_only(&e) {
                Error::ReadOnlyCache { path: self.root.clone(), source: e }
            } else {
                Error::io(&path)(e)
            }
        })?;
        if exclusive {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Busy(format!(
                        "a `pipe run` is using {}; retry when it has finished",
                        self.root.display()
                    )))
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(path)(e)),
            }
        } else {
            // A gc of thousands of objects takes a minute or more: say why nothing happens.
            lock_waiting(&file, &path, true, || {
                eprintln!("waiting for `pipe gc` to finish with {}", self.root.display())
            })?;
        }
        Ok(CacheLock { _file: file })
    }
}

impl Manifest {
    /// What the manifest records at and under workspace path `rel`, listed as
    /// `workspace::contents` lists a tree (sorted, executables and empty directories
    /// marked); None when it records nothing there. What a copy of the out must hold.
    pub fn under(&self, rel: &str) -> Option<Vec<(String, String)>> {
        let (rel, at) = (normal(rel), in_artifact(rel));
        // The manifest lists the out where the artifact keeps it; entries are named as in the workspace.
        let named = |path: &str| format!("{rel}{}", &path[at.len()..]);
        let exec = |path: &String| self.executable.contains(path);
        let mut under: Vec<(String, String)> = (self.files.iter())
            .filter(|f| within(&f.path, &at))
            .map(|f| (named(&f.path), workspace::entry(f.blake3.clone(), exec(&f.path))))
            .collect();
        let dirs = self.empty_dirs.iter().filter(|d| within(d, &at) && normal(d) != at);
        under.extend(dirs.map(|d| (named(d), workspace::EMPTY_DIR.to_string())));
        // An empty directory out is recorded as such, and holds nothing.
        if under.is_empty() && !self.empty_dirs.iter().any(|d| normal(d) == at) {
            return None;
        }
        under.sort();
        Some(under)
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

/// Makes the manifest's empty directories and gives its executables their execute bit,
/// in a directory about to be imported. Its paths come from elsewhere: each must stay inside.
fn apply_shape(dir: &Path, manifest: &Manifest) -> Result<(), Error> {
    let inside = |rel: &str| {
        let path = Path::new(rel);
        if rel.is_empty() || !path.components().all(|c| matches!(c, std::path::Component::Normal(_))) {
            let message = format!("names the unsafe path `{rel}`");
            return Err(Error::Corrupt { path: dir.join(MANIFEST), message });
        }
        Ok(dir.join(path))
    };
    for rel in &manifest.empty_dirs {
        let path = inside(rel)?;
        fs::create_dir_all(&path).map_err(Error::io(&path))?;
    }
    for rel in &manifest.executable {
        let path = inside(rel)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).map_err(Error::io(&path))?;
    }
    Ok(())
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

/// A JSON file inside a private directory: no one reads it before the directory is
/// sealed, which syncs it, so a plain write is enough.
fn write_json(path: &Path, value: &impl Serialize) -> Result<Vec<u8>, Error> {
    let bytes = atomic::json(path, value)?;
    fs::write(path, &bytes).map_err(Error::io(path))?;
    Ok(bytes)
}

/// "object <key> is corrupt: <file>: <problem>; ..." for warnings and errors.
pub fn describe(key: &str, problems: &[Problem]) -> String {
    let list: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.problem)).collect();
    format!("object {key} is corrupt: {}", list.join("; "))
}

/// Removes a file or directory tree (sealed ones too); a path already gone is fine.
pub fn remove(path: &Path) -> Result<(), Error> {
    seal::unseal(path)?;
    let result = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    match result {
        // Removed meanwhile by another process: the outcome the caller wanted.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(Error::io(path)),
    }
}

/// Takes `file`'s lock, shared or exclusive, calling `waiting` first when another process
/// holds it; errors name `path`.
pub(crate) fn lock_waiting(file: &File, path: &Path, shared: bool, waiting: impl FnOnce()) -> Result<(), Error> {
    match if shared { file.try_lock_shared() } else { file.try_lock() } {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => {
            waiting();
            if shared { file.lock_shared() } else { file.lock() }.map_err(Error::io(path))
        }
        Err(TryLockError::Error(e)) => Err(Error::io(path)(e)),
    }
}

/// Whether `e` says the path cannot be written, as in a cache shared read-only.
pub(crate) fn read_only(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem)
}

pub(crate) fn open_lock(path: &Path) -> Result<File, Error> {
    open_lock_io(path).map_err(Error::io(path))
}

fn open_lock_io(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).truncate(false).write(true).open(path)
}
