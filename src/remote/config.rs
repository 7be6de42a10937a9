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
//! `remote: URL` is short for `remote: {url: URL}`.
//!
//! Credentials do not belong here: each cloud's own environment variables and files
//! provide them (a password in an http URL works, but is masked in every message).

use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Unexpected, Visitor};
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
    #[serde(default, deserialize_with = "url_or_section")]
    remote: Section,
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
    #[serde(default, deserialize_with = "transfers")]
    jobs: Option<usize>,
}

/// `remote: URL` is short for `remote: {url: URL}`; an empty `remote:` sets nothing.
fn url_or_section<'de, D: Deserializer<'de>>(d: D) -> Result<Section, D::Error> {
    struct UrlOrSection;
    impl<'de> Visitor<'de> for UrlOrSection {
        type Value = Section;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a URL, or a mapping with `url:` and the remote's settings")
        }
        fn visit_str<E: de::Error>(self, url: &str) -> Result<Section, E> {
            Ok(Section { url: Some(url.to_string()), ..Section::default() })
        }
        fn visit_unit<E: de::Error>(self) -> Result<Section, E> {
            Ok(Section::default())
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Section, A::Error> {
            Section::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(UrlOrSection)
}

/// `jobs:`, a whole number from 1 (0 transfers at once would never finish).
fn transfers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    struct Transfers;
    impl Visitor<'_> for Transfers {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("the number of transfers at once, a whole number from 1")
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<usize, E> {
            usize::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| E::invalid_value(Unexpected::Unsigned(n), &self))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<usize, E> {
            u64::try_from(n).map_err(|_| E::invalid_value(Unexpected::Signed(n), &self)).and_then(|n| self.visit_u64(n))
        }
    }
    d.deserialize_any(Transfers).map(Some)
}

/// Why a remote refuses uploads.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadOnly {
    /// An http(s) remote whose project file does not say `read_only: false`.
    HttpDefault,
    /// `read_only: true` in this project file.
    Set(PathBuf),
}

impl ReadOnly {
    /// The refusal of an upload to `location`, with the way to allow it.
    pub fn refusal(&self, location: &Location) -> RemoteError {
        RemoteError::ReadOnly(match self {
            ReadOnly::HttpDefault => format!(
                "remote {location} is read-only (the default for http(s) remotes); set `read_only: false` under `remote:` in {FILE} to write to it"
            ),
            ReadOnly::Set(file) => format!(
                "remote {location} is read-only: {} sets `remote.read_only: true`; set it to false there to write to it",
                file.display()
            ),
        })
    }
}

/// The remote a command works with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub location: Location,
    /// `pipe run` consults the remote (config `read`, or `--remote`).
    pub read: bool,
    /// `pipe run` uploads what it computed (config `write`, or `--push`).
    pub write: bool,
    /// Why uploads are refused; None when they are allowed.
    pub read_only: Option<ReadOnly>,
    pub jobs: usize,
}

/// The project file and its text, for messages naming a key's line.
struct Project {
    file: PathBuf,
    text: String,
    section: Section,
}

impl Project {
    /// `file:line: remote.key`: the first line naming `key`, else the `remote:` line (a
    /// line scan, as for pipeline files: it finds block and flow style alike).
    fn at(&self, key: &str) -> String {
        let mut lines = self.text.lines();
        let line = (lines.clone().position(|l| l.contains(&format!("{key}:"))))
            .or_else(|| lines.position(|l| l.starts_with("remote:")))
            .map_or(String::new(), |i| format!(":{}", i + 1));
        format!("{}{line}: remote.{key}", self.file.display())
    }
}

/// The settings for a command started with `flag` (`--remote[=URL]`: `Some("")` without a
/// URL) whose pipeline file is in `dir`; None when no remote is configured anywhere.
pub fn resolve(dir: &Path, flag: Option<&str>) -> Result<Option<Settings>, RemoteError> {
    let project = find(dir).map(load).transpose()?;
    let in_file = project.as_ref().and_then(|p| Some((p.section.url.as_deref()?, p)));
    let env = std::env::var(ENV).ok().filter(|v| !v.is_empty());
    let location = match (flag.filter(|f| !f.is_empty()), env, in_file) {
        (Some(url), _, _) => Location::parse(url, "--remote")?,
        (None, Some(url), _) => Location::parse(&url, ENV)?,
        (None, None, Some((url, project))) => Location::parse(url, &project.at("url"))?,
        (None, None, None) => {
            return match flag {
                Some(_) => Err(RemoteError::Config(format!(
                    "--remote: no remote configured; pass --remote=URL, set {ENV}, or add `remote: {{url: ...}}` to {}",
                    project.map_or(FILE.to_string(), |p| p.file.display().to_string())
                ))),
                None => Ok(None),
            }
        }
    };
    let section = project.as_ref().map(|p| &p.section);
    let (read, write, jobs) = section.map_or((false, false, None), |s| (s.read, s.write, s.jobs));
    let read_only = match (project.as_ref(), section.and_then(|s| s.read_only)) {
        (Some(p), Some(true)) if write => {
            return Err(RemoteError::Config(format!(
                "{}: `read_only: true` refuses every upload, yet `write: true` asks `pipe run` to upload what it computed; remove one of them",
                p.at("read_only")
            )))
        }
        (Some(p), Some(true)) => Some(ReadOnly::Set(p.file.clone())),
        (_, Some(false)) => None,
        _ => location.read_only_by_default().then_some(ReadOnly::HttpDefault),
    };
    Ok(Some(Settings { location, read, write, read_only, jobs: jobs.unwrap_or(DEFAULT_JOBS) }))
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

fn load(file: PathBuf) -> Result<Project, RemoteError> {
    let text = std::fs::read_to_string(&file).map_err(|e| RemoteError::Config(format!("{}: {e}", file.display())))?;
    if text.trim().is_empty() {
        return Ok(Project { file, text, section: Section::default() });
    }
    let parsed: ProjectFile = serde_yaml_ng::from_str(&text).map_err(|e| {
        let line = e.location().map(|l| format!(":{}", l.line())).unwrap_or_default();
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        // serde_yaml_ng puts the path first (`remote: unknown field ...`).
        let (path, rest) = message.split_at(message.find("unknown field").unwrap_or(0));
        RemoteError::Config(format!("{}{line}: {path}{}", file.display(), suggest::explain(rest)))
    })?;
    Ok(Project { file, text, section: parsed.remote })
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
        assert!(from_file.read && !from_file.write && from_file.read_only == Some(ReadOnly::HttpDefault));
        assert_eq!(from_file.jobs, 3);
        let flagged = resolve(dir.path(), Some("file:///tmp/other")).unwrap().unwrap();
        assert_eq!(flagged.location.to_string(), "file:///tmp/other");
        assert!(flagged.read_only.is_none());
    }

    fn resolve_file(yaml: &str) -> Result<Option<Settings>, RemoteError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), yaml).unwrap();
        resolve(dir.path(), None)
    }

    #[test]
    fn a_bad_url_jobs_or_contradiction_names_the_file_line_and_key() {
        let cases = [
            ("remote: {url: 42}\n", ".pipe.yaml:1: remote.url `42`: not a URL"),
            ("remote:\n  read: true\n  url: bogus\n", ".pipe.yaml:3: remote.url `bogus`: not a URL"),
            ("remote: file://\n", ".pipe.yaml:1: remote.url `file://`: names no directory"),
            ("remote:\n  url: file:///x\n  jobs: -3\n", ".pipe.yaml:3: remote.jobs: invalid value: integer `-3`, expected the number of transfers at once, a whole number from 1"),
            ("remote:\n  url: file:///x\n  jobs: 0\n", ".pipe.yaml:3: remote.jobs: invalid value: integer `0`"),
            ("remote: [file:///x]\n", "expected a URL, or a mapping with `url:`"),
            (
                "remote:\n  url: file:///x\n  write: true\n  read_only: true\n",
                ".pipe.yaml:4: remote.read_only: `read_only: true` refuses every upload, yet `write: true`",
            ),
        ];
        for (yaml, message) in cases {
            let err = resolve_file(yaml).unwrap_err().to_string();
            assert!(err.contains(message), "{yaml}: {err}");
        }
    }

    #[test]
    fn a_plain_url_is_short_for_a_mapping_with_url_and_an_explicit_read_only_says_where() {
        let short = resolve_file("remote: file:///tmp/x\n").unwrap().unwrap();
        assert_eq!((short.location.to_string().as_str(), short.jobs), ("file:///tmp/x", DEFAULT_JOBS));
        assert_eq!(resolve_file("remote:\n").unwrap().map(|s| s.location.to_string()), None);
        let set = resolve_file("remote: {url: 'file:///tmp/x', read_only: true}\n").unwrap().unwrap();
        let Some(read_only @ ReadOnly::Set(_)) = set.read_only else { panic!("{:?}", set.read_only) };
        let refusal = read_only.refusal(&set.location).to_string();
        assert!(refusal.contains(".pipe.yaml sets `remote.read_only: true`") && !refusal.contains("http"), "{refusal}");
    }
}
