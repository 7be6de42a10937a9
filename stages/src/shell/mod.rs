//! The generic `shell` stage: runs a command DVC-style. Its `deps` (files or
//! directories) are hashed into the stage key, its `outs` are copied into the
//! artifact (where [`workspace::in_artifact`] says), and the command can also write
//! into `$PIPE_OUT` directly.
//!
//! The command runs with `sh -c` in the pipeline file's directory and sees:
//! `PIPE_OUT` (the artifact directory being built), `PIPE_INPUTS` (upstream
//! artifact directories, one per line), `PIPE_INPUT_<STAGE>` (the artifact
//! directories of upstream stage `<stage>`, upper-cased, non-alphanumerics as
//! `_`, one per line), the same lists in files ([`inputs`]), `PIPE_METRICS` (write a JSON object there to record
//! metrics), `PIPE_SEED` and `PIPE_INSTANCE`. It runs in a process group of its
//! own that is killed when the command ends or when `pipe` dies (even by SIGKILL):
//! nothing it started in that group outlives the stage ([`process`]).
//!
//! A dvc.yaml stage that DVC's last `dvc repro` left up to date ([`dvc_lock`]) does not run:
//! its outs in the workspace are captured as the command's.

mod dvc_lock;
mod dvc_md5;
mod dvcignore;
mod inputs;
mod lines;
mod process;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::tree::{hash_file, hash_listed};
use crate::values;
use crate::workspace::{self, Last, PathError, Paths};
use crate::{params, Context, Stage, StageError};
pub use dvc_lock::{readable as dvc_lock_readable, DvcParams, DvcPath, DvcStage, LockError, Verdict};
use dvcignore::DvcIgnore;

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ShellParams {
    /// The command, run with `sh -c`.
    pub run: String,
    /// Files or directories (relative to the pipeline file) whose contents enter the key.
    pub deps: Vec<String>,
    /// Paths (relative to the pipeline file) the command produces; copied into the artifact.
    pub outs: Vec<String>,
    /// Values that enter the key and nothing else: the resolved keys of DVC `params:` deps.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub params: Map<String, Value>,
    /// Outs (JSON or YAML) whose contents also become the stage's metrics, as DVC `metrics:`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// Outs left in place before the command runs (DVC `persist: true`), which may update them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub persist: Vec<String>,
    /// Run on every `pipe run` (DVC `always_changed`): the key takes a value new each time.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub always_changed: bool,
    /// A dvc.yaml stage's DVC repository root, from the pipeline file's directory (`""`,
    /// `..`): dep directories are read without what its `.dvcignore` files exclude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dvc_root: Option<String>,
}

pub struct Shell;

pub fn register(r: &mut crate::Registry) {
    r.add(Box::new(Shell));
}

impl Stage for Shell {
    fn kind(&self) -> &'static str {
        "shell"
    }

    fn version(&self) -> u32 {
        1
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        let value = params::resolve::<ShellParams>(raw)?;
        let p: ShellParams = params::parse(&value)?;
        if p.run.trim().is_empty() {
            return Err(StageError::param("run", "a shell stage needs a non-empty `run:` command"));
        }
        for (key, paths) in [("deps", &p.deps), ("outs", &p.outs)] {
            for path in paths {
                // The lexical part of the check: it needs no file system.
                if let Err(e @ PathError::NotRelative(_)) = workspace::resolve(Path::new("/"), path, Last::Keep) {
                    return Err(StageError::param(key, e.to_string()));
                }
            }
        }
        for (key, listed) in [("metrics", &p.metrics), ("persist", &p.persist)] {
            let Some(path) = listed.iter().find(|m| !p.outs.contains(m)) else { continue };
            // As in DVC, where a metrics file or a persisted path is an out of its own, and outs may not overlap.
            let message = match p.outs.iter().find(|out| workspace::within(path, out)) {
                Some(out) if key == "metrics" => format!(
                    "`{path}` lies inside out `{out}`: a metrics file must be an out of its own, and outs may not \
                     overlap (DVC refuses them too); write it outside `{out}` and list it in `outs`"
                ),
                Some(out) => format!(
                    "`{path}` lies inside out `{out}`: `persist` keeps whole outs (DVC's `persist: true` is set \
                     on an out); list `{out}`"
                ),
                None => format!("`{path}` must also be listed in `outs`"),
            };
            return Err(StageError::param(key, message));
        }
        Ok(value)
    }

    fn workspace(&self, params: &Value) -> Result<Paths, StageError> {
        let p: ShellParams = params::parse(params)?;
        Ok(Paths { deps: p.deps, outs: p.outs, dvc_root: p.dvc_root })
    }

    fn fingerprint(&self, params: &Value, workdir: &Path) -> Result<Value, StageError> {
        let p: ShellParams = params::parse(params)?;
        let mut ignore = dvcignore::of(workdir, p.dvc_root.as_deref())?;
        let mut deps = Map::new();
        for dep in &p.deps {
            let path = resolve(workdir, dep, "deps", Last::Follow)?;
            let meta = fs::metadata(&path).map_err(|e| {
                StageError::param("deps", format!("`{dep}` cannot be read in {}: {e}", workdir.display()))
            })?;
            if meta.is_dir() {
                let files = dir_files(&path, ignore.as_mut())
                    .and_then(hash_listed)
                    .map_err(|e| StageError::param("deps", format!("`{dep}`: {e}")))?;
                for file in files {
                    deps.insert(format!("{}/{}", dep.trim_end_matches('/'), file.path), file.blake3.into());
                }
            } else {
                deps.insert(dep.clone(), hash_file(&path)?.1.into());
            }
        }
        if p.always_changed {
            // Distinct for every evaluation, so the key never matches an earlier artifact.
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let nonce = format!("{}.{:09}-{}", now.as_secs(), now.subsec_nanos(), std::process::id());
            return Ok(serde_json::json!({ "deps": deps, "always_changed": nonce }));
        }
        Ok(serde_json::json!({ "deps": deps }))
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let p: ShellParams = params::parse(&ctx.params)?;
        // Outs are the command's to produce: a stale copy from an earlier run must not be captured.
        // Resolved first: a link on the way must not lead the removal outside the project.
        let outs =
            p.outs.iter().map(|out| resolve(&ctx.workdir, out, "outs", Last::Keep)).collect::<Result<Vec<_>, _>>()?;
        if adopts(&p, ctx) {
            eprintln!("adopted from dvc.lock: {} (cmd, deps, params and outs match DVC's last run)", ctx.instance);
            ctx.mark_adopted();
            return collect(&p, &outs, ctx);
        }
        let removable: Vec<(&String, &PathBuf)> =
            p.outs.iter().zip(&outs).filter(|(o, _)| !p.persist.contains(o)).collect();
        for (out, path) in &removable {
            remove_path(path).map_err(|e| {
                StageError::Failed(format!("cannot remove the old out `{out}` before the command runs: {e}"))
            })?;
        }
        if let Err(stop) = execute(&p, ctx) {
            // What a failed or stopped command left in the outs is partial: kept, the next run would take
            // it for an edit by hand and keep it (DVC removes outs before running a stage, too).
            let note = remove_partial(&removable);
            return Err(stop.into_error(&ctx.instance, &note));
        }
        // The command succeeded, so its outs are whole: what fails now (a full disk under the
        // store, say) must not cost them, maybe hours of work.
        collect(&p, &outs, ctx).map_err(|e| Stop::Stage(e).into_error(&ctx.instance, &kept(&removable)))
    }
}

/// Whether the stage is a dvc.yaml stage that `dvc repro` would skip by its `dvc.lock`, so
/// that its outs, already in the workspace, are its artifact. Never when the run is forced; a
/// `dvc.lock` that cannot be read is a warning, and the stage runs.
fn adopts(p: &ShellParams, ctx: &Context) -> bool {
    let Some(dvc) = ctx.dvc.as_ref().filter(|_| !ctx.force) else { return false };
    lock_verdict(p, &ctx.workdir, dvc).map(|v| matches!(v, Verdict::Unchanged)).unwrap_or_else(|e| {
        eprintln!("warning: stage `{}`: {e}; nothing is adopted from it: the stage runs", ctx.instance);
        false
    })
}

/// How a run would find the shell stage with these resolved `params` against its `dvc.lock`
/// entry (see [`adopts`]), were the workspace as it is now: for `pipe status` and dry runs,
/// which run nothing.
pub fn adoptable(params: &Value, workdir: &Path, dvc: &DvcStage) -> Result<Verdict, LockError> {
    match params::parse::<ShellParams>(params) {
        Ok(p) => lock_verdict(&p, workdir, dvc),
        Err(_) => Ok(Verdict::Changed),
    }
}

/// The stage against its `dvc.lock` entry; a stage that always runs is never unchanged.
fn lock_verdict(p: &ShellParams, workdir: &Path, dvc: &DvcStage) -> Result<Verdict, LockError> {
    if p.always_changed {
        return Ok(Verdict::Changed);
    }
    let Ok(ignore) = dvcignore::of(workdir, p.dvc_root.as_deref()) else { return Ok(Verdict::Changed) };
    dvc_lock::verdict(dvc, workdir, ignore)
}

/// Why [`execute`] stopped short of an artifact.
enum Stop {
    /// The command exited non-zero or was killed: how, and its last stderr lines.
    Command {
        how: String,
        stderr: Vec<String>,
    },
    Stage(StageError),
}

impl From<StageError> for Stop {
    fn from(e: StageError) -> Stop {
        Stop::Stage(e)
    }
}

impl Stop {
    /// The stage's error, with `note` (what was done about its partial outs, if anything) added.
    fn into_error(self, instance: &str, note: &str) -> StageError {
        let note = if note.is_empty() { String::new() } else { format!("; {note}") };
        match self {
            Stop::Command { how, stderr } => StageError::Failed(format!(
                "the command failed with {how}{note}{}",
                if stderr.is_empty() { String::new() } else { format!("; stderr:\n{}", stderr.join("\n")) }
            )),
            Stop::Stage(StageError::Interrupted) => {
                // The run record says `interrupted` and nothing more: the note goes to stderr.
                if !note.is_empty() {
                    eprintln!("stage `{instance}`: interrupted{note}");
                }
                StageError::Interrupted
            }
            Stop::Stage(StageError::Param { key, message }) => StageError::Param { key, message: message + &note },
            Stop::Stage(e) if note.is_empty() => e,
            Stop::Stage(e) => StageError::Failed(format!("{e}{note}")),
        }
    }
}

/// Removes the outs a failed command wrote; says which, and which could not be removed.
fn remove_partial(outs: &[(&String, &PathBuf)]) -> String {
    let (mut removed, mut kept) = (Vec::new(), Vec::new());
    for (out, path) in outs {
        if fs::symlink_metadata(path).is_err() {
            continue;
        }
        match remove_path(path) {
            Ok(()) => removed.push(out.to_string()),
            Err(e) => kept.push(format!("{out} ({e})")),
        }
    }
    let mut said = Vec::new();
    if !removed.is_empty() {
        said.push(format!("removed its partial outs: {}", removed.join(", ")));
    }
    if !kept.is_empty() {
        said.push(format!("could not remove its partial outs: {}", kept.join(", ")));
    }
    said.join("; ")
}

/// The outs a succeeded command wrote, left in place when its artifact could not be made.
fn kept(outs: &[(&String, &PathBuf)]) -> String {
    let whole: Vec<&str> =
        outs.iter().filter(|(_, path)| fs::symlink_metadata(path).is_ok()).map(|(out, _)| out.as_str()).collect();
    if whole.is_empty() {
        return String::new();
    }
    format!("the command succeeded: its outs stay in the workspace: {}", whole.join(", "))
}

/// Runs the command to its successful end.
fn execute(p: &ShellParams, ctx: &mut Context) -> Result<(), Stop> {
    let metrics_file = metrics_file(ctx);
    let deps_before = dep_files(&ctx.workdir, p);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(&p.run)
        .current_dir(&ctx.workdir)
        .env("PIPE_OUT", &ctx.out_dir)
        .env("PIPE_METRICS", &metrics_file)
        .env("PIPE_SEED", ctx.seed.to_string())
        .env("PIPE_INSTANCE", &ctx.instance)
        // Python would write __pycache__/ into a dep directory (`deps: [src]`, `python src/train.py`),
        // a new key for the next run: the stage would run twice for one change.
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let _lists = inputs::set(&mut command, &p.run, &ctx.inputs, &ctx.out_dir)?;
    let started = process::start(&mut command, &p.run)?;
    let process::Ended { status, stderr } = process::supervise(started, ctx.progress, &ctx.instance)?;
    if !status.success() {
        let _ = fs::remove_file(&metrics_file);
        let how = match status.code() {
            Some(code) => format!("exit code {code}"),
            None => "a signal".to_string(),
        };
        return Err(Stop::Command { how, stderr });
    }
    if let Some(changed) = changed_file(&deps_before, &dep_files(&ctx.workdir, p)) {
        eprintln!(
            "warning: stage `{}`: a file of its deps changed while its command ran ({changed}): the next run \
             sees new deps and runs the stage again. Keep what commands write out of the deps",
            ctx.instance
        );
    }
    Ok(())
}

/// Builds the artifact from what the command wrote: its metrics and its outs.
fn collect(p: &ShellParams, outs: &[PathBuf], ctx: &mut Context) -> Result<(), StageError> {
    read_metrics(&metrics_file(ctx), ctx)?;
    for (out, from) in p.outs.iter().zip(outs) {
        if fs::symlink_metadata(from).is_err() {
            return Err(StageError::Failed(format!(
                "the command succeeded but did not produce out `{out}` (in {})",
                ctx.workdir.display()
            )));
        }
        copy_tree(from, &ctx.out_path(workspace::in_artifact(out))?)?;
    }
    for file in &p.metrics {
        read_metrics_out(&resolve(&ctx.workdir, file, "metrics", Last::Follow)?, ctx)?;
    }
    Ok(())
}

/// A dep or out resolved inside the pipeline's directory (param `key` is at fault if not).
fn resolve(workdir: &Path, path: &str, key: &str, last: Last) -> Result<PathBuf, StageError> {
    workspace::resolve(workdir, path, last).map_err(|e| StageError::param(key, e.to_string()))
}

/// `PIPE_INPUT_<this>` names upstream stage `stage`'s artifact directories.
pub fn env_name(stage: &str) -> String {
    stage.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// Where the command writes its metrics (`$PIPE_METRICS`).
fn metrics_file(ctx: &Context) -> PathBuf {
    sibling(&ctx.out_dir, ".metrics.json")
}

/// `<dir><suffix>` beside `dir`: outside the artifact, cleaned up with it by the engine.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn read_metrics(file: &Path, ctx: &mut Context) -> Result<(), StageError> {
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StageError::io(file)(e)),
    };
    fs::remove_file(file).map_err(StageError::io(file))?;
    let Ok(Value::Object(metrics)) = serde_json::from_str::<Value>(&text) else {
        return Err(StageError::Data(format!("$PIPE_METRICS must hold a JSON object, got: {}", text.trim())));
    };
    for (key, value) in metrics {
        ctx.metric(&key, value);
    }
    Ok(())
}

/// A metrics out's top-level keys become metrics. One that cannot be read as a mapping
/// is still an out of a finished stage: as `dvc repro`, the stage succeeds, with a warning.
fn read_metrics_out(path: &Path, ctx: &mut Context) -> Result<(), StageError> {
    let text = fs::read_to_string(path).map_err(StageError::io(path))?;
    let problem = match values::parse(path, &text) {
        Ok(Value::Object(metrics)) => {
            for (key, value) in metrics {
                ctx.metric(&key, value);
            }
            return Ok(());
        }
        Ok(_) => "it holds no mapping of names to values".to_string(),
        Err(e) => format!("it is not valid {}: {e}", if values::is_toml(path) { "TOML" } else { "YAML or JSON" }),
    };
    eprintln!(
        "warning: stage `{}`: metrics file {}: {problem}; no metrics recorded from it",
        ctx.instance,
        path.display()
    );
    Ok(())
}

/// Each file under the deps with its size and modification time: enough to see that the
/// command wrote into its own deps without hashing them again. Unreadable parts are left
/// out (the key, computed before, already read every file).
fn dep_files(workdir: &Path, p: &ShellParams) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut files = BTreeMap::new();
    let root = fs::canonicalize(workdir).unwrap_or_else(|_| workdir.to_path_buf());
    let mut ignore = dvcignore::of(workdir, p.dvc_root.as_deref()).ok().flatten();
    for dep in &p.deps {
        let Ok(path) = workspace::resolve(workdir, dep, Last::Follow) else { continue };
        let listed = match path.is_dir() {
            true => dir_files(&path, ignore.as_mut()).unwrap_or_default(),
            false => vec![(String::new(), path)],
        };
        for (_, file) in listed {
            if let Ok(meta) = fs::metadata(&file) {
                let shown = file.strip_prefix(&root).map_or_else(|_| file.clone(), Path::to_path_buf);
                files.insert(shown, (meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH)));
            }
        }
    }
    files
}

/// The files of dep directory `dir` (see [`crate::tree::files`]), less what `ignore` excludes.
fn dir_files(dir: &Path, ignore: Option<&mut DvcIgnore>) -> Result<Vec<(String, PathBuf)>, StageError> {
    match ignore {
        // The rules name paths with links and `..` resolved, as their root is.
        Some(rules) => {
            let real = fs::canonicalize(dir).map_err(StageError::io(dir))?;
            crate::tree::files_except(&real, &mut rules.skip())
        }
        None => crate::tree::files(dir),
    }
}

/// [`dir_files`] for the engine's checks: a dep directory of a stage whose [`Paths`] are `paths`.
pub fn dep_dir_files(workdir: &Path, paths: &Paths, dir: &Path) -> Result<Vec<(String, PathBuf)>, StageError> {
    dir_files(dir, dvcignore::of(workdir, paths.dvc_root.as_deref())?.as_mut())
}

/// The files that appeared, went or changed between two [`dep_files`] listings: the
/// first named, the others counted.
fn changed_file(
    before: &BTreeMap<PathBuf, (u64, std::time::SystemTime)>,
    after: &BTreeMap<PathBuf, (u64, std::time::SystemTime)>,
) -> Option<String> {
    let paths: std::collections::BTreeSet<&PathBuf> =
        before.keys().chain(after.keys()).filter(|p| before.get(*p) != after.get(*p)).collect();
    let path = *paths.first()?;
    let how = match (before.contains_key(path), after.contains_key(path)) {
        (false, _) => "added",
        (_, false) => "removed",
        _ => "modified",
    };
    let more = if paths.len() > 1 { format!(", and {} more", paths.len() - 1) } else { String::new() };
    Some(format!("{} {how}{more}", path.display()))
}

/// Removes an out; a directory the command left read-only (`chmod 555`) is made writable
/// first, since nothing in it could be unlinked otherwise.
fn remove_path(path: &Path) -> Result<(), StageError> {
    let result = match fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).or_else(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => writable_dirs(path).and_then(|()| fs::remove_dir_all(path)),
            _ => Err(e),
        }),
        Ok(_) => fs::remove_file(path),
    };
    result.map_err(StageError::io(path))
}

/// Gives the owner write and search permission on `dir` and every directory below it
/// (links are not followed).
fn writable_dirs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::symlink_metadata(dir)?.permissions().mode();
    fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            writable_dirs(&entry.path())?;
        }
    }
    Ok(())
}

/// Copies regular files and directories (permissions included, as `fs::copy` does);
/// a symbolic link is refused, never followed, and so is a FIFO or device.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), StageError> {
    let kind = fs::symlink_metadata(from).map_err(StageError::io(from))?.file_type();
    if let Some(e) = crate::tree::refused(from, kind) {
        return Err(e);
    }
    if kind.is_dir() {
        fs::create_dir_all(to).map_err(StageError::io(to))?;
        for entry in fs::read_dir(from).map_err(StageError::io(from))? {
            let entry = entry.map_err(StageError::io(from))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        // fs::copy's error does not say which side failed: an out the command left unreadable
        // is named where the user sees it, not in the store's temporary directory.
        fs::File::open(from).map_err(StageError::io(from))?;
        fs::copy(from, to).map(drop).map_err(StageError::io(to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dep_listings_name_the_first_change_and_count_the_rest() {
        let at = |s: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        let before = BTreeMap::from([(PathBuf::from("src/a.py"), (1, at(1))), (PathBuf::from("src/b.py"), (1, at(1)))]);
        assert_eq!(changed_file(&before, &before), None);
        let mut after = before.clone();
        after.insert(PathBuf::from("src/a.py"), (1, at(2)));
        assert_eq!(changed_file(&before, &after).unwrap(), "src/a.py modified");
        after.remove(Path::new("src/b.py"));
        after.insert(PathBuf::from("src/__pycache__/a.pyc"), (9, at(2)));
        assert_eq!(changed_file(&before, &after).unwrap(), "src/__pycache__/a.pyc added, and 2 more");
    }

    #[test]
    fn resolve_requires_a_command_and_contained_outs() {
        let err = Shell.resolve(&json!({"deps": ["a"]})).unwrap_err();
        assert!(err.is_config() && err.to_string().contains("run"), "{err}");
        let err = Shell.resolve(&json!({"run": "true", "outs": ["../x"]})).unwrap_err();
        assert!(err.to_string().contains("`../x`"), "{err}");
        let err = Shell.resolve(&json!({"run": "true", "deps": ["/etc/passwd"]})).unwrap_err();
        assert!(err.to_string().contains("param `deps`: `/etc/passwd` must be a relative path"), "{err}");
        let ok = Shell.resolve(&json!({"run": "true"})).unwrap();
        assert_eq!(ok, json!({"run": "true", "deps": [], "outs": []}));
    }

    #[test]
    fn dvc_settings_stay_out_of_plain_shell_params_and_must_name_outs() {
        let plain =
            Shell.resolve(&json!({"run": "true", "params": {}, "metrics": [], "always_changed": false})).unwrap();
        assert_eq!(
            plain,
            json!({"run": "true", "deps": [], "outs": []}),
            "keys of existing shell stages stay the same"
        );
        let err = Shell.resolve(&json!({"run": "true", "outs": ["a"], "metrics": ["m.json"]})).unwrap_err();
        assert!(err.to_string().contains("`m.json` must also be listed in `outs`"), "{err}");
        let err = Shell.resolve(&json!({"run": "true", "outs": ["sub/"], "metrics": ["sub/m.json"]})).unwrap_err();
        assert!(
            err.to_string().contains("`sub/m.json` lies inside out `sub/`: a metrics file must be an out"),
            "{err}"
        );
        let err = Shell.resolve(&json!({"run": "true", "outs": ["sub"], "persist": ["sub/x"]})).unwrap_err();
        assert!(err.to_string().contains("param `persist`: `sub/x` lies inside out `sub`"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let always = Shell.resolve(&json!({"run": "true", "always_changed": true})).unwrap();
        assert_ne!(Shell.fingerprint(&always, dir.path()).unwrap(), Shell.fingerprint(&always, dir.path()).unwrap());
    }

    #[test]
    fn fingerprint_follows_dep_contents() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/x.txt"), "1").unwrap();
        let params = Shell.resolve(&json!({"run": "true", "deps": ["d"]})).unwrap();
        let before = Shell.fingerprint(&params, dir.path()).unwrap();
        assert!(before["deps"]["d/x.txt"].is_string(), "{before}");
        fs::write(dir.path().join("d/x.txt"), "2").unwrap();
        assert_ne!(before, Shell.fingerprint(&params, dir.path()).unwrap());
        let missing = Shell.resolve(&json!({"run": "true", "deps": ["nope"]})).unwrap();
        assert!(Shell.fingerprint(&missing, dir.path()).unwrap_err().to_string().contains("`nope`"));
    }
}
