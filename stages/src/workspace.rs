//! Paths inside the pipeline's directory (the workspace). Shell stages read their
//! `deps` and write their `outs` there; each such path is resolved as the kernel
//! would resolve it, symbolic links included, and must end inside the workspace, so
//! pipe never reads, writes or deletes outside the project through a link.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// Links followed while resolving one path before it counts as a loop (Linux's limit).
const MAX_LINKS: usize = 40;

pub const MANIFEST: &str = "manifest.json";
pub const PARAMS: &str = "params.json";
pub const METRICS: &str = "metrics.json";
pub const KEY: &str = "key.json";
pub const STAMP: &str = "stamp.json";
/// Metadata the engine writes beside a stage's files in its artifact; a stage may not
/// write these names at the top of `$PIPE_OUT`.
pub const RESERVED: [&str; 5] = [MANIFEST, PARAMS, METRICS, KEY, STAMP];
/// The artifact directory holding the workspace outs whose first component is a
/// [`RESERVED`] name, or this name itself (see [`in_artifact`]).
const ESCAPED: &str = "outs.pipe";

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("`{0}` must be a relative path inside the pipeline's directory (no `..`, not absolute)")]
    NotRelative(String),
    #[error("`{path}` resolves through a symbolic link to {}, outside the pipeline's directory {}", resolved.display(), root.display())]
    Outside { path: String, resolved: PathBuf, root: PathBuf },
    #[error("`{0}` goes through more than 40 symbolic links (a loop?)")]
    Loop(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// The workspace paths a stage instance reads (`deps`) and writes (`outs`), relative to
/// the pipeline's directory: the engine checks them all before anything runs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Paths {
    pub deps: Vec<String>,
    pub outs: Vec<String>,
    /// A dvc.yaml stage's DVC repository root from the pipeline's directory: its dep
    /// directories are read without what that repository's `.dvcignore` files exclude
    /// ([`crate::shell::dep_dir_files`]).
    pub dvc_root: Option<String>,
}

/// Whether the last component of a path is followed when it is a symbolic link:
/// a dep is read through it, an out is never followed (the link itself is the out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Last {
    Follow,
    Keep,
}

/// Resolves `rel` (relative to `workdir`) to the absolute path it designates, following
/// every symbolic link on the way (the last one only with [`Last::Follow`]). Components
/// that do not exist yet are taken as they are. The result must lie inside `workdir`.
pub fn resolve(workdir: &Path, rel: &str, last: Last) -> Result<PathBuf, PathError> {
    let given = Path::new(rel);
    if rel.is_empty() || given.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(PathError::NotRelative(rel.to_string()));
    }
    let root = fs::canonicalize(workdir).map_err(|source| PathError::Io { path: workdir.to_path_buf(), source })?;
    let mut queue: VecDeque<OsString> = components(given);
    let mut at = root.clone();
    let mut links = 0;
    while let Some(part) = queue.pop_front() {
        if part == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&part);
        let follow = !queue.is_empty() || last == Last::Follow;
        match fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() && follow => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(PathError::Loop(rel.to_string()));
                }
                let target = fs::read_link(&next).map_err(|source| PathError::Io { path: next.clone(), source })?;
                if target.is_absolute() {
                    at = PathBuf::from("/");
                }
                for part in components(&target).into_iter().rev() {
                    queue.push_front(part);
                }
            }
            Ok(_) => at = next,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => at = next,
            Err(source) => return Err(PathError::Io { path: next, source }),
        }
    }
    if !at.starts_with(&root) {
        return Err(PathError::Outside { path: rel.to_string(), resolved: at, root });
    }
    Ok(at)
}

/// A declared path as written relative to the pipeline's directory, spelled one way:
/// `./a//b/` is `a/b`, and `.` (the directory itself) is the empty string.
pub fn normal(path: &str) -> String {
    path.split('/').filter(|p| !p.is_empty() && *p != ".").collect::<Vec<_>>().join("/")
}

/// Declared path `path` is `dir` or lies inside it (whole components: `data2` is not in `data`).
pub fn within(path: &str, dir: &str) -> bool {
    let (path, dir) = (normal(path), normal(dir));
    dir.is_empty() || path == dir || path.strip_prefix(&dir).is_some_and(|rest| rest.starts_with('/'))
}

/// One of two declared paths is the other or lies inside it: writing one touches the other.
pub fn overlap(a: &str, b: &str) -> bool {
    within(a, b) || within(b, a)
}

/// Where workspace out `path` (or a path inside one) lies in its stage's artifact: at the
/// same relative path, unless its first component is a [`RESERVED`] name or [`ESCAPED`]
/// itself; then under [`ESCAPED`] (`metrics.json` is `outs.pipe/metrics.json`), so a
/// DVC stage may write `metrics.json` beside the engine's. Injective: only an escaped
/// path starts with `outs.pipe/`. A reserved name failed its stage before, so stored
/// artifacts keep their layout and hash (but for outs under `outs.pipe` itself). A path
/// inside an out maps inside the out's.
pub fn in_artifact(path: &str) -> String {
    let path = normal(path);
    let first = path.split('/').next().unwrap_or_default();
    if RESERVED.contains(&first) || first == ESCAPED {
        format!("{ESCAPED}/{path}")
    } else {
        path
    }
}

/// The parts of a path that move through the tree: names and `..` (`/` and `.` do not).
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn declared_paths_compare_by_whole_components() {
        assert_eq!(normal("./a//b/"), "a/b");
        assert_eq!(normal("./"), "");
        assert!(within("data/a.txt", "data") && within("./data/", "data") && within("x", "."));
        assert!(!within("data2/a.txt", "data") && !within("data", "data/a.txt"));
        assert!(overlap("data", "data/x.txt") && overlap("data/x.txt", "data/x.txt"));
        assert!(!overlap("data/x", "data/x.txt"));
    }

    #[test]
    fn outs_named_like_artifact_metadata_move_under_one_directory() {
        assert_eq!(in_artifact("./data/metrics.json"), "data/metrics.json");
        assert_eq!(in_artifact("metrics.json"), "outs.pipe/metrics.json");
        assert_eq!(in_artifact("params.json/sub/"), "outs.pipe/params.json/sub");
        assert_eq!(in_artifact("outs.pipe/x"), "outs.pipe/outs.pipe/x");
        assert_eq!(in_artifact("outs.pipe2/x"), "outs.pipe2/x");
        // Injective: no two outs share a place in the artifact.
        let outs = ["metrics.json", "outs.pipe/metrics.json", "outs.pipe", "outs.pipe/outs.pipe", "a", "key.json/a"];
        let mapped: std::collections::HashSet<String> = outs.iter().map(|o| in_artifact(o)).collect();
        assert_eq!(mapped.len(), outs.len());
        for out in outs {
            assert_eq!(in_artifact(&format!("{out}/x")), format!("{}/x", in_artifact(out)));
        }
    }

    #[test]
    fn links_are_followed_and_must_stay_inside() {
        let top = tempfile::tempdir().unwrap();
        let (work, outside) = (top.path().join("work"), top.path().join("outside"));
        fs::create_dir_all(work.join("data")).unwrap();
        fs::create_dir(&outside).unwrap();
        symlink("../outside", work.join("out_link")).unwrap();
        symlink("data", work.join("in_link")).unwrap();
        symlink(&outside, work.join("abs_link")).unwrap();
        symlink("../outside/nothing", work.join("dangling")).unwrap();
        symlink("loop", work.join("loop")).unwrap();
        let root = fs::canonicalize(&work).unwrap();
        assert_eq!(resolve(&work, "in_link/x.txt", Last::Keep).unwrap(), root.join("data/x.txt"));
        assert_eq!(resolve(&work, "./new/x", Last::Keep).unwrap(), root.join("new/x"));
        for escaping in ["out_link/sentinel.txt", "abs_link/x", "dangling/x"] {
            let err = resolve(&work, escaping, Last::Keep).unwrap_err();
            assert!(matches!(err, PathError::Outside { .. }), "{escaping}: {err}");
        }
        // The last component is the out itself: kept as a link, or followed for a dep.
        assert_eq!(resolve(&work, "out_link", Last::Keep).unwrap(), root.join("out_link"));
        assert!(resolve(&work, "out_link", Last::Follow).is_err());
        assert!(matches!(resolve(&work, "loop/x", Last::Keep).unwrap_err(), PathError::Loop(_)));
        for bad in ["../x", "/etc/passwd", "", "a/../../x"] {
            assert!(matches!(resolve(&work, bad, Last::Keep).unwrap_err(), PathError::NotRelative(_)), "{bad}");
        }
    }
}
