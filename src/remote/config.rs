//! Which remote a command uses, and how: `--remote=URL`, else `$PIPE_REMOTE`, else the
//! `remote:` section of the project file `.pipe.yaml`, looked up in the pipeline's
//! directory and then its parents (the current directory for commands without a
//! pipeline file):
//!
//! ```yaml
//! remote:
//!   url: s3://team-bucket/pipe-cache
//!   read: true        # pipe run looks stale keys up on the remote before computing them
//!   write: true       # pipe run uploads what it computed
//!   read_only: false  # refuse every upload (default: true for http(s), false otherwise)
//!   jobs: 16          # parallel transfers (default 8; -j overrides)
//! ```
//!
//! Credentials do not belong here: each cloud's own environment variables and files
//! provide them (a password in an http URL works, but is masked in every message).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::location::Location;
use super::RemoteError;
use crate::suggest;

pub const FILE: &str = ".pipe.yaml";
pub const ENV: &str = "PIPE_REMOTE";
const DEFAULT_JOBS: usize = 8;

/// `--remote[=URL]`, shared by the commands that talk to a remote.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RemoteArg {
    /// The remote cache [default: $PIPE_REMOTE, else `remote.url` in .pipe.yaml]; with `pipe run` and
    /// `pipe status`, consult it (a failure is then an error)
    #[arg(long = "remote", value_name = "URL", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub remote: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    #[serde(default)]
    remote: Option<Section>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    url: Option<String>,
    #[serde(default)]
    read: bool,
    #[serde(default)]
    write: bool,
    read_only: Option<bool>,
    jobs: Option<usize>,
}

/// The remote a command works with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub location: Location,
    /// `pipe run` consults the remote (config `read`, or `--remote`).
    pub read: bool,
    /// `pipe run` uploads what it computed (config `write`, or `--push`).
    pub write: bool,
    pub read_only: bool,
    pub jobs: usize,
}

/// The settings for a command started with `flag` (`--remote[=URL]`: `Some("")` without a
/// URL) whose pipeline file is in `dir`; None when no remote is configured anywhere.
pub fn resolve(dir: &Path, flag: Option<&str>) -> Result<Option<Settings>, RemoteError> {
    let (section, file) = match find(dir) {
        Some(file) => (load(&file)?.remote.unwrap_or_default(), Some(file)),
        None => (Section::default(), None),
    };
    let env = std::env::var(ENV).ok().filter(|v| !v.is_empty());
    let url = flag.filter(|f| !f.is_empty()).map(str::to_string).or(env).or(section.url.clone());
    let Some(url) = url else {
        return match flag {
            Some(_) => Err(RemoteError::Config(format!(
                "--remote: no remote configured; pass --remote=URL, set {ENV}, or add `remote: {{url: ...}}` to {}",
                file.as_deref().map_or(FILE.to_string(), |f| f.display().to_string())
            ))),
            None => Ok(None),
        };
    };
    let location = Location::parse(&url)?;
    let read_only = section.read_only.unwrap_or_else(|| location.read_only_by_default());
    let jobs = section.jobs.unwrap_or(DEFAULT_JOBS).max(1);
    Ok(Some(Settings { location, read: section.read, write: section.write, read_only, jobs }))
}

/// The same as [`resolve`], but a remote is required.
pub fn required(dir: &Path, flag: Option<&str>) -> Result<Settings, RemoteError> {
    resolve(dir, Some(flag.unwrap_or_default()))?.ok_or_else(|| RemoteError::Config("no remote configured".into()))
}

/// The directory a pipeline file is in (its project), or the current one.
pub fn project_dir(file: Option<&Path>) -> PathBuf {
    match file.and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn find(dir: &Path) -> Option<PathBuf> {
    let dir = std::path::absolute(dir).ok()?;
    dir.ancestors().map(|d| d.join(FILE)).find(|f| f.is_file())
}

fn load(file: &Path) -> Result<ProjectFile, RemoteError> {
    let text = std::fs::read_to_string(file).map_err(|e| RemoteError::Config(format!("{}: {e}", file.display())))?;
    if text.trim().is_empty() {
        return Ok(ProjectFile::default());
    }
    serde_yaml_ng::from_str(&text).map_err(|e| {
        let line = e.location().map(|l| format!(":{}", l.line())).unwrap_or_default();
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        // serde_yaml_ng puts the path first (`remote: unknown field ...`).
        let (path, rest) = message.split_at(message.find("unknown field").unwrap_or(0));
        RemoteError::Config(format!("{}{line}: {path}{}", file.display(), suggest::explain(rest)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_names_the_file_line_and_the_nearest_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "remote:\n  url: file:///tmp/x\n  raed: true\n").unwrap();
        let err = resolve(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains(".pipe.yaml:3") && err.contains("did you mean `read`"), "{err}");
    }

    #[test]
    fn the_flag_beats_the_file_and_http_is_read_only_unless_said_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pipelines")).unwrap();
        std::fs::write(dir.path().join(FILE), "remote: {url: 'http://127.0.0.1:9/c', read: true, jobs: 3}\n").unwrap();
        let from_file = resolve(&dir.path().join("pipelines"), None).unwrap().unwrap();
        assert_eq!(from_file.location.to_string(), "http://127.0.0.1:9/c");
        assert!(from_file.read && !from_file.write && from_file.read_only);
        assert_eq!(from_file.jobs, 3);
        let flagged = resolve(dir.path(), Some("file:///tmp/other")).unwrap().unwrap();
        assert_eq!(flagged.location.to_string(), "file:///tmp/other");
        assert!(!flagged.read_only);
    }
}
