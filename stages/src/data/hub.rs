//! Hugging Face hub access: the local cache first (`$HF_HOME/hub`, read without
//! any network call), the hub only for what the cache lacks.
//!
//! Cache lookups are done here rather than with `hf_hub::Cache::get` because that
//! one does not trim `refs/<revision>` and cannot resolve a revision that is
//! itself a commit hash; downloads go through `hf_hub::api::sync`
//! (`ApiBuilder::from_env`, so `HF_HOME` and `HF_ENDPOINT` are honoured).
//! `HF_HUB_OFFLINE=1` forbids network calls altogether.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiRepo};
use hf_hub::{Cache, Repo, RepoType};

use crate::StageError;

/// A repository at a revision (branch, tag or commit hash).
#[derive(Debug, Clone)]
pub struct HubRepo {
    pub id: String,
    pub kind: RepoType,
    pub revision: String,
}

impl HubRepo {
    pub fn model(id: &str, revision: &str) -> Self {
        HubRepo { id: id.to_string(), kind: RepoType::Model, revision: revision.to_string() }
    }

    pub fn dataset(id: &str, revision: &str) -> Self {
        HubRepo { id: id.to_string(), kind: RepoType::Dataset, revision: revision.to_string() }
    }

    fn repo(&self) -> Repo {
        Repo::with_revision(self.id.clone(), self.kind, self.revision.clone())
    }

    fn noun(&self) -> &'static str {
        match self.kind {
            RepoType::Model => "model",
            RepoType::Dataset => "dataset",
            RepoType::Space => "space",
        }
    }

    /// `$HF_HOME/hub/<kind>s--<org>--<name>`: where this repo lives in the cache.
    pub fn cache_dir(&self) -> PathBuf {
        Cache::from_env().path().join(self.repo().folder_name())
    }

    /// The commit the revision points to in the cache, if the cache knows it.
    fn cached_commit(&self) -> Option<String> {
        let dir = self.cache_dir();
        if let Ok(commit) = std::fs::read_to_string(dir.join("refs").join(&self.revision)) {
            return Some(commit.trim().to_string());
        }
        // A revision given as a commit hash has a snapshot but no ref.
        dir.join("snapshots").join(&self.revision).is_dir().then(|| self.revision.clone())
    }

    fn snapshot_dir(&self, commit: &str) -> PathBuf {
        self.cache_dir().join("snapshots").join(commit)
    }

    /// The commit hash of the revision: from the cache (one small file read), else
    /// asked from the hub. Cheap enough for a stage fingerprint.
    pub fn commit(&self) -> Result<String, StageError> {
        if let Some(commit) = self.cached_commit() {
            return Ok(commit);
        }
        let info = self.online("its commit")?.info().map_err(|e| self.unreachable("its commit", &e.to_string()))?;
        Ok(info.sha)
    }

    /// A file of the repo, from the cache or downloaded into it.
    pub fn file(&self, file: &str) -> Result<PathBuf, StageError> {
        if let Some(path) = self.cached_commit().map(|c| self.snapshot_dir(&c).join(file)).filter(|p| p.is_file()) {
            return Ok(path);
        }
        let what = format!("file `{file}`");
        self.online(&what)?.get(file).map_err(|e| self.unreachable(&what, &e.to_string()))
    }

    /// Every file of the repo whose path ends with `suffix` (sorted repo-relative
    /// paths with their local paths). A cached snapshot is taken as complete.
    pub fn files_ending(&self, suffix: &str) -> Result<Vec<(String, PathBuf)>, StageError> {
        if let Some(commit) = self.cached_commit() {
            let root = self.snapshot_dir(&commit);
            let mut found = Vec::new();
            collect_files(&root, &root, suffix, &mut found)?;
            if !found.is_empty() {
                found.sort();
                return Ok(found);
            }
        }
        let what = format!("its `*{suffix}` files");
        let api = self.online(&what)?;
        let info = api.info().map_err(|e| self.unreachable(&what, &e.to_string()))?;
        let mut names: Vec<String> =
            info.siblings.into_iter().map(|s| s.rfilename).filter(|n| n.ends_with(suffix)).collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let path = api.get(&name).map_err(|e| self.unreachable(&format!("file `{name}`"), &e.to_string()))?;
                Ok((name, path))
            })
            .collect()
    }

    /// The hub client for this repo, unless `HF_HUB_OFFLINE` forbids the network.
    fn online(&self, what: &str) -> Result<ApiRepo, StageError> {
        let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
        if offline {
            return Err(self.unreachable(what, "HF_HUB_OFFLINE is set, so the hub was not asked"));
        }
        let api =
            ApiBuilder::from_env().with_progress(false).build().map_err(|e| self.unreachable(what, &e.to_string()))?;
        Ok(api.repo(self.repo()))
    }

    fn unreachable(&self, what: &str, cause: &str) -> StageError {
        StageError::Hub(format!(
            "{} `{}` (revision `{}`): {what} not found in the Hugging Face cache (searched {}) and not \
             fetched from the hub ({cause}); point HF_HOME at a pre-seeded cache (e.g. HF_HOME=../shared/hf) \
             or allow network access",
            self.noun(),
            self.id,
            self.revision,
            self.cache_dir().display()
        ))
    }
}

fn collect_files(root: &Path, dir: &Path, suffix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), StageError> {
    for entry in std::fs::read_dir(dir).map_err(StageError::io(dir))? {
        let path = entry.map_err(StageError::io(dir))?.path();
        if path.is_dir() {
            collect_files(root, &path, suffix, out)?;
        } else if path.to_string_lossy().ends_with(suffix) {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let name = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push((name, path));
        }
    }
    Ok(())
}

/// A file of a model repo (config.json, model.safetensors, tokenizer.json ...).
pub fn model_file(repo: &str, revision: &str, file: &str) -> Result<PathBuf, StageError> {
    HubRepo::model(repo, revision).file(file)
}

/// The parquet files of a dataset repo, as (repo-relative path, local path), sorted.
pub fn dataset_files(repo: &str, revision: &str) -> Result<Vec<(String, PathBuf)>, StageError> {
    HubRepo::dataset(repo, revision).files_ending(".parquet")
}
