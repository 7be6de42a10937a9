//! Workspace outs. A stage's declared `outs` (a shell stage's `outs:`) live twice: in
//! its artifact, at the path [`in_artifact`] gives (the same relative path, but for names
//! the engine's metadata uses), and in the pipeline's directory, where the user reads them. When a run finds the stage cached, or its artifact was pulled from
//! a remote, the workspace copy may be missing; [`restore`] puts it back from the store.
//!
//! Outs are compared by content (blake3). A workspace out that differs from the
//! artifact is the user's work and is kept and reported, unless `force`, or unless it
//! equals that out in another artifact of the store: pipe wrote that one itself (an
//! earlier run's, or the run of a lock file `git checkout` has replaced), so replacing
//! it loses nothing.
//!
//! Restored outs are writable copies made with `std::fs::copy`, which on Linux uses
//! `copy_file_range`: where the filesystem can (Btrfs, XFS), the copy is a reflink
//! sharing the object's blocks. Never a hardlink: an edit through it would change the
//! stored object. Each out is built beside its place and renamed in, so an
//! interrupted restore leaves the old out or the new one, never half of one. Nothing
//! is written through a symlink that leads out of the pipeline's directory.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pipe_stages::shell::copy_tree;
use pipe_stages::tree::{self, hash_file, hash_tree, Shape};
use pipe_stages::workspace::{in_artifact, normal, resolve as resolve_path, Last};
use pipe_stages::{Registry, StageError};

use crate::out_lock;
use crate::plan::Plan;
use crate::store::{remove, Artifact, Store};
use crate::Error;

/// What [`restore`] did with one out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The workspace already held the artifact's content.
    Current,
    /// It was missing, or held pipe's own earlier output: now a copy of the artifact's.
    Restored,
    /// The user changed it: left as it is.
    Modified,
    /// The user changed it and `force` overwrote it.
    Overwritten,
}

#[derive(Debug, Clone)]
pub struct Restored {
    pub instance: String,
    /// As declared in the pipeline file.
    pub out: String,
    pub action: Action,
}

impl Restored {
    /// Whether the workspace now holds something else there.
    pub fn changed(&self) -> bool {
        matches!(self.action, Action::Restored | Action::Overwritten)
    }
}

/// Restores the declared outs of `found` (instance index in `plan`, its artifact) and hands
/// a line to `say` for each out that was not already current: what `run`, `pull` and
/// `checkout` do with the artifacts they found.
pub fn restore(
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    found: &[(usize, &Artifact)],
    force: bool,
    say: &dyn Fn(&str),
) -> Result<Vec<Restored>, Error> {
    let mut done = Vec::new();
    for &(i, artifact) in found {
        let instance = &plan.instances[i].name;
        for out in declared_outs(registry, plan, i)? {
            // A run computing another key into this out must finish first; and it must not
            // start writing it between the comparison and the copy.
            let holder = format!("putting back the outs of `{instance}` of {}", plan.file.display());
            let _lock =
                out_lock::acquire(store, &plan.workdir, std::slice::from_ref(&out), &[], &holder, &|out, by| {
                    say(&format!("waiting to put back `{out}` (out of {instance}): it is in use by {by}"))
                })?;
            let action = restore_out(&plan.workdir, &out, artifact, store, force).map_err(|e| Error::Failed {
                message: format!("cannot put back `{out}` (out of {instance}): {e}"),
                config: false,
            })?;
            done.push(Restored { instance: instance.clone(), out, action });
        }
    }
    for line in report(&done) {
        say(&line);
    }
    Ok(done)
}

/// The workspace outs instance `i` declares (a shell stage's `outs:`).
pub fn declared_outs(registry: &Registry, plan: &Plan, i: usize) -> Result<Vec<String>, Error> {
    let inst = &plan.instances[i];
    let Some(stage) = registry.get(&inst.kind) else { return Ok(Vec::new()) };
    let paths = stage
        .workspace(&inst.params)
        .map_err(|e| Error::Failed { message: format!("stage `{}`: {e}", inst.name), config: true })?;
    Ok(paths.outs)
}

/// One line per out that was not already current, for stderr.
fn report(restored: &[Restored]) -> Vec<String> {
    restored
        .iter()
        .filter_map(|r| {
            let (out, instance) = (&r.out, &r.instance);
            match r.action {
                Action::Current => None,
                Action::Restored => Some(format!("restored {out} (out of {instance})")),
                Action::Overwritten => {
                    Some(format!("overwrote {out} (out of {instance}; it had been changed by hand)"))
                }
                Action::Modified => Some(format!(
                    "warning: {out} (out of {instance}) differs from its cached artifact; kept it \
                     (`pipe checkout --force` overwrites it)"
                )),
            }
        })
        .collect()
}

/// How a workspace out stands against an artifact's copy of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// The same content, or the artifact has none to compare with.
    Current,
    /// Not in the workspace.
    Missing,
    /// The out of another artifact in the store: pipe wrote it there (an earlier run, or
    /// the run of another commit's lock file).
    Earlier,
    /// Anything else: the user's work.
    Edited,
}

/// Compares workspace out `rel` with `want`, what an artifact's manifest records for it
/// ([`Manifest::under`](crate::store::Manifest::under)), telling pipe's own output (the out of some artifact in `store`)
/// from an edit by hand. The manifest, not the object's files: those may have rotted.
fn compare(workdir: &Path, rel: &str, want: Option<&[(String, String)]>, store: &Store) -> Result<Drift, Error> {
    let have = contents(&workdir.join(rel), rel)?;
    // Nothing to compare with (a shell stage fails without its outs, so only other kinds).
    if want.is_none() || have.as_deref() == want {
        return Ok(Drift::Current);
    }
    let Some(have) = have else { return Ok(Drift::Missing) };
    Ok(if store.holds(rel, &have)? { Drift::Earlier } else { Drift::Edited })
}

/// How each declared out of instance `i` stands in the workspace against `artifact`
/// (see [`compare`]): what `pipe status` reports.
pub fn drift(
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    i: usize,
    artifact: &Artifact,
) -> Result<Vec<(String, Drift)>, Error> {
    let (mut drifts, manifest) = (Vec::new(), artifact.manifest()?);
    for out in declared_outs(registry, plan, i)? {
        let rel = normal(&out);
        let drift = compare(&plan.workdir, &rel, manifest.under(&rel).as_deref(), store)?;
        drifts.push((out, drift));
    }
    Ok(drifts)
}

fn restore_out(workdir: &Path, out: &str, artifact: &Artifact, store: &Store, force: bool) -> Result<Action, Error> {
    let rel = normal(out);
    let want = artifact.manifest()?.under(&rel);
    let action = match compare(workdir, &rel, want.as_deref(), store)? {
        Drift::Current => return Ok(Action::Current),
        Drift::Edited if !force => return Ok(Action::Modified),
        Drift::Edited => Action::Overwritten,
        Drift::Missing | Drift::Earlier => Action::Restored,
    };
    place(workdir, &rel, &artifact.dir.join(in_artifact(&rel)), &want.unwrap_or_default())?;
    Ok(action)
}

/// Whether workspace path `rel` holds what `artifact`'s manifest records there.
pub fn same(workdir: &Path, artifact: &Artifact, rel: &str) -> Result<bool, Error> {
    let rel = normal(rel);
    Ok(contents(&workdir.join(&rel), &rel)? == artifact.manifest()?.under(&rel))
}

/// The content of `path`, workspace path `rel` or its place in an artifact: (path under
/// `rel`, blake3) of each file, [`EXECUTABLE`] added to an executable's, and (path under
/// `rel`, [`EMPTY_DIR`]) for each empty directory under it; sorted, or None when absent.
/// An empty directory out is `Some(vec![])`.
fn contents(path: &Path, rel: &str) -> Result<Option<Vec<(String, String)>>, Error> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path)(e)),
    };
    let corrupt = |e: StageError| Error::Corrupt { path: path.to_path_buf(), message: e.to_string() };
    if !meta.is_dir() {
        let exec = tree::executable(path).map_err(corrupt)?;
        return Ok(Some(vec![(rel.to_string(), entry(hash_file(path).map_err(corrupt)?.1, exec))]));
    }
    let Shape { empty_dirs, executable } = tree::shape(path).map_err(corrupt)?;
    let executable: HashSet<String> = executable.into_iter().collect();
    let under = |p: &str| format!("{rel}/{p}");
    let mut all: Vec<(String, String)> = hash_tree(path)
        .map_err(corrupt)?
        .into_iter()
        .map(|f| (under(&f.path), entry(f.blake3, executable.contains(&f.path))))
        .collect();
    all.extend(empty_dirs.iter().map(|d| (under(d), EMPTY_DIR.to_string())));
    all.sort();
    Ok(Some(all))
}

/// How [`contents`] and [`Manifest::under`](crate::store::Manifest::under) mark an executable file's hash and an empty directory.
const EXECUTABLE: &str = " +x";
pub const EMPTY_DIR: &str = "empty directory";

/// A file's entry in [`contents`]: its blake3, marked when executable.
pub fn entry(blake3: String, executable: bool) -> String {
    if executable {
        blake3 + EXECUTABLE
    } else {
        blake3
    }
}

/// Copies `from` (a file or directory of the artifact) to `workdir/rel`, replacing what is
/// there, once the copy holds `want` (what the artifact's manifest records, as [`contents`]
/// lists it): an object rotted without a change of size or mtime passes the stat check of
/// lookups, and must not overwrite a good out.
fn place(workdir: &Path, rel: &str, from: &Path, want: &[(String, String)]) -> Result<(), Error> {
    contained(workdir, Path::new(rel))?;
    let dest = workdir.join(rel);
    let parent = dest.parent().unwrap_or(workdir);
    fs::create_dir_all(parent).map_err(Error::io(parent))?;
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let sibling = |what: &str| parent.join(format!(".{name}.pipe-{what}.{}", std::process::id()));
    let tmp = sibling("checkout");
    remove(&tmp)?;
    let built = copy_tree(from, &tmp)
        .map_err(|e| match e {
            // Writing the copy failed (a full disk): the workspace's fault, named by the out's path.
            StageError::Io { path, source } if path.starts_with(&tmp) => Error::Io { path: dest.clone(), source },
            e => Error::Corrupt { path: from.to_path_buf(), message: e.to_string() },
        })
        .and_then(|()| writable(&tmp))
        .and_then(|()| holds(&tmp, rel, from, want));
    if let Err(e) = built {
        let _ = remove(&tmp);
        return Err(e);
    }
    // rename() replaces a file or symlink in one step, but not a directory, nor a file by one.
    let is_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    if is_dir(&dest) || (is_dir(&tmp) && fs::symlink_metadata(&dest).is_ok()) {
        let old = sibling("old");
        fs::rename(&dest, &old).map_err(Error::io(&dest))?;
        fs::rename(&tmp, &dest).map_err(Error::io(&dest))?;
        remove(&old)
    } else {
        fs::rename(&tmp, &dest).map_err(Error::io(&dest))
    }
}

/// Checks `copy` of workspace out `rel`, copied from `from`, against `want`; the error names
/// the first file that differs, in the object, as `pipe verify` does.
fn holds(copy: &Path, rel: &str, from: &Path, want: &[(String, String)]) -> Result<(), Error> {
    let have = contents(copy, rel)?.unwrap_or_default();
    let (have, want): (BTreeMap<_, _>, BTreeMap<_, _>) =
        (have.iter().map(|(p, h)| (p, h)).collect(), want.iter().map(|(p, h)| (p, h)).collect());
    let Some(path) = have.keys().chain(want.keys()).find(|p| have.get(*p) != want.get(*p)) else { return Ok(()) };
    let missing = |h: Option<&&String>| h.map_or("missing".to_string(), |h| h.to_string());
    let message = format!(
        "blake3 {}, {} expected by its manifest: the object is corrupt and was not put back into the workspace; \
         `pipe verify --repair` quarantines it, and the next `pipe run` computes it again",
        missing(have.get(path)),
        missing(want.get(path))
    );
    let file = match path[rel.len()..].trim_start_matches('/') {
        "" => from.to_path_buf(),
        under => from.join(under),
    };
    Err(Error::Corrupt { path: file, message })
}

/// Refuses a destination that resolves outside `workdir` (through a symlinked directory
/// leading elsewhere), with the same rules as the shell stage's outs.
fn contained(workdir: &Path, rel: &Path) -> Result<(), Error> {
    resolve_path(workdir, &rel.to_string_lossy(), Last::Keep)
        .map(|_| ())
        .map_err(|e| Error::Failed { message: format!("{e}; pipe does not write there"), config: true })
}

/// Adds the owner's write permission throughout a tree copied from read-only objects.
fn writable(path: &Path) -> Result<(), Error> {
    let meta = fs::symlink_metadata(path).map_err(Error::io(path))?;
    let mut perms = meta.permissions();
    perms.set_mode(perms.mode() | 0o200);
    fs::set_permissions(path, perms).map_err(Error::io(path))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(Error::io(path))? {
            writable(&entry.map_err(Error::io(path))?.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_tells_missing_from_empty_and_lists_files_under_the_out() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(contents(&dir.path().join("out"), "out").unwrap(), None);
        fs::create_dir(dir.path().join("out")).unwrap();
        assert_eq!(contents(&dir.path().join("out"), "out").unwrap(), Some(vec![]));
        fs::write(dir.path().join("out/a"), "x").unwrap();
        let hash = blake3::hash(b"x").to_hex().to_string();
        assert_eq!(contents(&dir.path().join("out"), "out").unwrap(), Some(vec![("out/a".to_string(), hash.clone())]));
        // The execute bit and empty directories are part of what an out holds.
        fs::set_permissions(dir.path().join("out/a"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(dir.path().join("out/logs")).unwrap();
        let want = vec![("out/a".to_string(), format!("{hash} +x")), ("out/logs".to_string(), EMPTY_DIR.to_string())];
        assert_eq!(contents(&dir.path().join("out"), "out").unwrap(), Some(want));
        assert_eq!(
            contents(&dir.path().join("out/a"), "out/a").unwrap(),
            Some(vec![("out/a".into(), format!("{hash} +x"))])
        );
    }

    #[test]
    fn place_replaces_a_file_by_a_directory_and_leaves_no_temporaries() {
        let (src, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fs::create_dir_all(src.path().join("out/sub")).unwrap();
        fs::write(src.path().join("out/sub/f"), "new").unwrap();
        fs::set_permissions(src.path().join("out/sub/f"), fs::Permissions::from_mode(0o444)).unwrap();
        fs::write(work.path().join("out"), "old file").unwrap();
        let want = contents(&src.path().join("out"), "out").unwrap().unwrap();
        place(work.path(), "out", &src.path().join("out"), &want).unwrap();
        assert_eq!(fs::read_to_string(work.path().join("out/sub/f")).unwrap(), "new");
        let mode = fs::metadata(work.path().join("out/sub/f")).unwrap().permissions().mode();
        assert_eq!(mode & 0o200, 0o200, "the restored copy is writable");
        let names: Vec<_> = fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec!["out"]);
    }

    #[test]
    fn place_refuses_a_symlinked_directory_leading_outside() {
        let (src, work, elsewhere) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fs::write(src.path().join("f"), "x").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), work.path().join("link")).unwrap();
        let err = place(work.path(), "link/f", &src.path().join("f"), &[]).unwrap_err();
        assert!(err.to_string().contains("outside the pipeline's directory"), "{err}");
        assert!(!elsewhere.path().join("f").exists());
    }
}
