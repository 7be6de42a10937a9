//! A remote entry, `ac/<key>.json`: the key, its artifact hash and every file of the
//! object directory (stage files and the engine's metadata) with size and blake3.
//! The files themselves live content-addressed under `cas/`, so a file shared by
//! several artifacts is stored once. An entry is written only after all its files,
//! so a reader that finds it finds them too.

use std::collections::HashMap;
use std::path::{Component, Path};

use pipe_stages::tree::{hash_tree, FileHash};
use serde::{Deserialize, Serialize};

use super::RemoteError;
use crate::store::{self, Artifact, KeyFile, Manifest, KEY, MANIFEST, METRICS, PARAMS, STAMP};
use crate::Error;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    /// blake3 of manifest.json: the artifact hash runs and lock files record.
    pub artifact: String,
    pub files: Vec<FileHash>,
}

/// Where an entry lives on the remote.
pub fn entry_path(key: &str) -> String {
    format!("ac/{key}.json")
}

/// Where a file with this blake3 lives on the remote.
pub fn blob_path(blake3: &str) -> String {
    format!("cas/{}/{blake3}", &blake3[..2.min(blake3.len())])
}

impl Entry {
    /// The entry for a local artifact, re-hashing its files: an object that no longer
    /// matches its manifest is refused rather than spread to other machines.
    pub fn of(artifact: &Artifact) -> Result<Entry, Error> {
        let mut files = hash_tree(&artifact.dir)
            .map_err(|e| Error::Corrupt { path: artifact.dir.clone(), message: e.to_string() })?;
        // The stamp records this machine's mtimes: the receiving store writes its own.
        files.retain(|f| f.path != STAMP);
        let entry = Entry { key: artifact.key.clone(), artifact: artifact.hash.clone(), files };
        entry.check(&artifact.dir).map_err(|message| Error::Corrupt {
            path: artifact.dir.clone(),
            message: format!("{message}; not pushed (recompute it with `pipe run --force`)"),
        })?;
        Ok(entry)
    }

    /// Checks a downloaded object directory whose files were each verified against
    /// this entry: the entry names only safe relative paths, its manifest.json is the
    /// artifact hash and lists exactly the stage files, and key.json hashes to the key.
    pub fn verify(&self, dir: &Path) -> Result<(), RemoteError> {
        self.check(dir)
            .map_err(|why| RemoteError::Integrity(format!("key {}: {why}; nothing entered the store", self.key)))
    }

    /// Paths that could leave the object directory are refused before anything is written.
    pub fn safe_paths(&self) -> Result<(), RemoteError> {
        for f in &self.files {
            let path = Path::new(&f.path);
            if f.path.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
                return Err(RemoteError::Integrity(format!(
                    "key {}: the remote entry names the unsafe path `{}`; nothing entered the store",
                    self.key, f.path
                )));
            }
        }
        Ok(())
    }

    fn check(&self, dir: &Path) -> Result<(), String> {
        let manifest_bytes = std::fs::read(dir.join(MANIFEST)).map_err(|e| format!("{MANIFEST}: {e}"))?;
        let hash = blake3::hash(&manifest_bytes).to_hex().to_string();
        if hash != self.artifact {
            return Err(format!("{MANIFEST} hashes to {hash}, not the artifact hash {}", self.artifact));
        }
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| format!("{MANIFEST}: {e}"))?;
        let mut listed: HashMap<&str, &FileHash> = self.files.iter().map(|f| (f.path.as_str(), f)).collect();
        for file in &manifest.files {
            match listed.remove(file.path.as_str()) {
                Some(f) if f == file => {}
                Some(f) => {
                    return Err(format!("`{}` has blake3 {}, its manifest says {}", file.path, f.blake3, file.blake3))
                }
                None => return Err(format!("`{}` of the manifest is missing", file.path)),
            }
        }
        if let Some(extra) = listed.keys().find(|p| ![MANIFEST, PARAMS, METRICS, KEY].contains(p)) {
            return Err(format!("`{extra}` is not in the manifest"));
        }
        let key_file: KeyFile = store::read_json(&dir.join(KEY)).map_err(|e| e.to_string())?;
        let derived = key_file.parts.key();
        if key_file.key != self.key || derived != self.key {
            return Err(format!("{KEY} describes key {derived}, not {}", self.key));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_sharded_by_their_first_two_hex_digits() {
        assert_eq!(blob_path("abcdef"), "cas/ab/abcdef");
        assert_eq!(entry_path("k1"), "ac/k1.json");
    }

    #[test]
    fn paths_leaving_the_object_directory_are_refused() {
        for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
            let entry = Entry {
                key: "k".into(),
                artifact: "a".into(),
                files: vec![FileHash { path: bad.into(), size: 0, blake3: "00".into() }],
            };
            let err = entry.safe_paths().unwrap_err().to_string();
            assert!(err.contains("unsafe path"), "{bad}: {err}");
        }
    }
}
