//! Where the download stage's files come from: a hub dataset's parquet files or
//! local paths, each assigned to the source split its name says it holds.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hub::HubRepo;
use super::table::Format;
use crate::StageError;

/// The splits of a source dataset, named as on the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceSplit {
    Train,
    Validation,
    Test,
}

impl SourceSplit {
    pub const ALL: [SourceSplit; 3] = [SourceSplit::Train, SourceSplit::Validation, SourceSplit::Test];

    pub fn name(self) -> &'static str {
        match self {
            SourceSplit::Train => "train",
            SourceSplit::Validation => "validation",
            SourceSplit::Test => "test",
        }
    }

    /// The split a file holds, from its name (`train-00000-of-00001.parquet`,
    /// `dev.tsv`) or else its folder's name (`default/train/0000.parquet`).
    fn of_path(path: &str) -> Option<SourceSplit> {
        let mut parts = path.rsplit('/');
        let stem = parts.next().map(|f| f.split('.').next().unwrap_or(f));
        [stem, parts.next()].into_iter().flatten().find_map(|part| {
            let part = part.to_ascii_lowercase();
            if part.starts_with("train") {
                Some(SourceSplit::Train)
            } else if part.starts_with("val") || part.starts_with("dev") {
                Some(SourceSplit::Validation)
            } else if part.starts_with("test") {
                Some(SourceSplit::Test)
            } else {
                None
            }
        })
    }
}

/// `source:` takes one path or a list of paths.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Paths {
    One(String),
    Many(Vec<String>),
}

impl Paths {
    pub fn list(&self) -> Vec<&str> {
        match self {
            Paths::One(p) => vec![p.as_str()],
            Paths::Many(ps) => ps.iter().map(String::as_str).collect(),
        }
    }
}

/// One input file: its split, a stable name (repo path or path as configured:
/// never an absolute cache path, which would differ between machines) and where it is.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub split: SourceSplit,
    pub name: String,
    pub path: PathBuf,
}

/// The parquet files of a hub dataset that belong to a known split.
pub fn hub_files(repo: &HubRepo) -> Result<Vec<SourceFile>, StageError> {
    let files = repo.files_ending(".parquet")?;
    Ok(files
        .into_iter()
        .filter_map(|(name, path)| SourceSplit::of_path(&name).map(|split| SourceFile { split, name, path }))
        .collect())
}

/// The local files named by `source:`: files as given, directories by their
/// supported files (sorted, not recursive). Relative paths resolve against `workdir`.
pub fn local_files(paths: &Paths, workdir: &Path) -> Result<Vec<SourceFile>, StageError> {
    let mut out = Vec::new();
    for given in paths.list() {
        let path = workdir.join(given);
        if path.is_dir() {
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&path).map_err(StageError::io(&path))? {
                let entry = entry.map_err(StageError::io(&path))?.path();
                if entry.is_file() && Format::of(&entry).is_some() {
                    entries.push(entry);
                }
            }
            entries.sort();
            if entries.is_empty() {
                return Err(StageError::Data(format!(
                    "source `{given}` ({}): no .tsv, .csv, .jsonl or .parquet files in it",
                    path.display()
                )));
            }
            for entry in entries {
                let file_name = entry.file_name().unwrap_or_default().to_string_lossy().into_owned();
                out.push(local_file(format!("{}/{file_name}", given.trim_end_matches('/')), entry)?);
            }
        } else if path.is_file() {
            if Format::of(&path).is_none() {
                return Err(StageError::Data(format!(
                    "source `{given}`: unsupported file type (expected .tsv, .csv, .jsonl or .parquet)"
                )));
            }
            out.push(local_file(given.to_string(), path)?);
        } else {
            return Err(StageError::Data(format!("source `{given}`: no such file or directory ({})", path.display())));
        }
    }
    Ok(out)
}

fn local_file(name: String, path: PathBuf) -> Result<SourceFile, StageError> {
    let split = SourceSplit::of_path(&name).ok_or_else(|| {
        StageError::Data(format!(
            "source file `{name}`: cannot tell which split it holds; name it train*, validation* (or dev*) or test*"
        ))
    })?;
    Ok(SourceFile { split, name, path })
}

/// blake3 of a file's bytes.
pub fn file_hash(path: &Path) -> Result<String, StageError> {
    let mut file = std::fs::File::open(path).map_err(StageError::io(path))?;
    let mut hasher = blake3::Hasher::new();
    std::io::copy(&mut file, &mut hasher).map_err(StageError::io(path))?;
    Ok(hasher.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_from_file_or_folder_name() {
        assert_eq!(SourceSplit::of_path("data/train-00000-of-00001.parquet"), Some(SourceSplit::Train));
        assert_eq!(SourceSplit::of_path("sst2/dev.tsv"), Some(SourceSplit::Validation));
        assert_eq!(SourceSplit::of_path("default/test/0000.parquet"), Some(SourceSplit::Test));
        assert_eq!(SourceSplit::of_path("data/unsupervised-0.parquet"), None);
    }
}
