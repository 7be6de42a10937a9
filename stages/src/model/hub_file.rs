//! Files of a hub model from the local cache (`$HF_HOME/hub`).
//! Stand-in until `data::hub::model_file` lands on main.

use std::path::PathBuf;

use hf_hub::{Cache, Repo, RepoType};

use crate::StageError;

pub fn model_file(repo: &str, revision: &str, file: &str) -> Result<PathBuf, StageError> {
    let cache = Cache::from_env();
    cache.repo(Repo::with_revision(repo.to_string(), RepoType::Model, revision.to_string())).get(file).ok_or_else(|| {
        StageError::Hub(format!(
            "model {repo} (revision {revision}): `{file}` not found in the cache {}; \
             set HF_HOME to a pre-seeded cache (e.g. ../shared/hf)",
            cache.path().display()
        ))
    })
}
