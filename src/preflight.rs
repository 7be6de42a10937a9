//! Checks made before anything runs, on the workspace paths the stages read and write
//! (shell `deps` and `outs`). Each resolves inside the pipeline's directory, links
//! included. No out may hold the directory itself, the pipeline file, its lock file or
//! the cache (pipe removes an out before its command runs), nor overlap another
//! instance's outs or its own deps. A dep that a stage of the plan writes must come from
//! an upstream, so it is written before it is read; every other dep must exist, and none
//! may hold the cache or the lock file, which change on every run. A failure is a
//! configuration error naming file:line and stage; no run record is written and the
//! cache is untouched.

use std::fs;
use std::path::{Path, PathBuf};

use pipe_stages::tree;
use pipe_stages::workspace::{self, overlap, Last, Paths};
use pipe_stages::{shell, Registry};

use crate::plan::Plan;
use crate::spec::{Pipeline, SHELL};
use crate::{lockfile, Error};

/// Checks the instances marked in `selected`; `cache` is the store's directory.
pub fn check(
    pipeline: &Pipeline,
    plan: &Plan,
    registry: &Registry,
    selected: &[bool],
    cache: &Path,
) -> Result<(), Error> {
    let paths: Vec<Paths> = plan
        .instances
        .iter()
        .map(|inst| registry.get(&inst.kind).and_then(|s| s.workspace(&inst.params).ok()).unwrap_or_default())
        .collect();
    let upstream = ancestors(plan);
    let kept = Kept::of(plan, cache);
    for (i, inst) in plan.instances.iter().enumerate().filter(|&(i, _)| selected[i]) {
        let Some(stage) = registry.get(&inst.kind) else { continue };
        let fail = |key: &str, message: String| {
            Error::Config(format!("{}: stage `{}`: `{key}`: {message}", pipeline.at(&inst.stage, Some(key)), inst.name))
        };
        let own = stage.workspace(&inst.params).map_err(|e| fail("with", e.to_string()))?;
        if inst.kind == SHELL {
            let mut named: Vec<(String, &str)> = Vec::new();
            for &u in &inst.inputs {
                let up = plan.instances[u].stage.as_str();
                let var = shell::env_name(up);
                match named.iter().find(|(v, s)| *v == var && *s != up) {
                    Some((_, other)) => {
                        return Err(fail(
                            "needs",
                            format!("upstreams `{other}` and `{up}` would both be $PIPE_INPUT_{var}: rename one"),
                        ))
                    }
                    None => named.push((var, up)),
                }
            }
        }
        // Another instance writing `path`; for a dep, only one that does not run before this one.
        let writer = |path: &str, any: bool| {
            (0..plan.instances.len())
                .filter(|&j| j != i && (any || !upstream[i].contains(&j)))
                .find_map(|j| paths[j].outs.iter().find(|o| overlap(o, path)).map(|o| (j, o)))
        };
        for out in &own.outs {
            let path = workspace::resolve(&plan.workdir, out, Last::Keep).map_err(|e| fail("outs", e.to_string()))?;
            if let Some(what) = kept.held_by(&path, true) {
                return Err(fail("outs", format!("`{out}` {what}, and pipe removes an out before its command runs")));
            }
            if let Some(dep) = own.deps.iter().find(|d| overlap(d, out)) {
                return Err(fail(
                    "outs",
                    format!("`{out}` overlaps the stage's own dep `{dep}`: a stage cannot read what it writes"),
                ));
            }
            if let Some((j, other)) = writer(out, true) {
                let by = &plan.instances[j].name;
                return Err(fail(
                    "outs",
                    format!("`{out}` overlaps out `{other}` of `{by}`: two stages cannot write the same path"),
                ));
            }
        }
        for dep in &own.deps {
            let path = workspace::resolve(&plan.workdir, dep, Last::Follow).map_err(|e| fail("deps", e.to_string()))?;
            if let Some(what) = kept.held_by(&path, false) {
                return Err(fail(
                    "deps",
                    format!("`{dep}` {what}, which changes on every run: name what the command reads"),
                ));
            }
            if let Some((j, out)) = writer(dep, false) {
                let by = &plan.instances[j];
                return Err(fail(
                    "deps",
                    format!(
                        "`{dep}` overlaps out `{out}` of `{}`, which this stage does not need: add `needs: [{}]` so \
                         that it is written before it is read",
                        by.name, by.stage
                    ),
                ));
            }
            let made = paths.iter().any(|p| p.outs.iter().any(|out| overlap(out, dep)));
            match fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    tree::files(&path).map_err(|e| fail("deps", format!("`{dep}`: {e}")))?;
                }
                Ok(_) => {}
                Err(_) if made => {}
                Err(e) => {
                    return Err(fail("deps", format!("`{dep}` cannot be read in {}: {e}", plan.workdir.display())));
                }
            }
        }
    }
    Ok(())
}

/// For each instance, the indices of every instance upstream of it.
fn ancestors(plan: &Plan) -> Vec<Vec<usize>> {
    let mut all: Vec<Vec<usize>> = Vec::with_capacity(plan.instances.len());
    // Plan order is topological: an instance's inputs already have theirs.
    for inst in &plan.instances {
        let mut mine: Vec<usize> = Vec::new();
        for &u in &inst.inputs {
            mine.push(u);
            mine.extend(&all[u]);
        }
        mine.sort_unstable();
        mine.dedup();
        all.push(mine);
    }
    all
}

/// pipe's own files, by resolved path: no out may hold them, and no dep the changing ones.
struct Kept {
    workdir: Option<PathBuf>,
    file: Option<PathBuf>,
    lock: Option<PathBuf>,
    cache: Option<PathBuf>,
}

impl Kept {
    fn of(plan: &Plan, cache: &Path) -> Kept {
        // As `workspace::resolve` gives declared paths: the longest part that exists made
        // canonical, the rest (a cache or lock file not made yet) joined to it.
        let real = |p: &Path| {
            let p = std::path::absolute(p).ok()?;
            let base = p.ancestors().find_map(|a| Some((a, fs::canonicalize(a).ok()?)))?;
            Some(base.1.join(p.strip_prefix(base.0).ok()?))
        };
        Kept {
            workdir: real(&plan.workdir),
            file: real(&plan.file),
            lock: real(&lockfile::path_for(&plan.file)),
            cache: real(cache),
        }
    }

    /// What resolved path `path` is or holds, named: any of pipe's files for an out, only
    /// those a run changes (the lock file, the cache) for a dep.
    fn held_by(&self, path: &Path, out: bool) -> Option<String> {
        // (path, name, checked for this kind of path, a path inside it counts too)
        let named = [
            (&self.workdir, "the pipeline's directory", out, false),
            (&self.file, "the pipeline file", out, false),
            (&self.lock, "the pipeline's lock file", true, false),
            (&self.cache, "pipe's cache", true, true),
        ];
        named.into_iter().filter(|named| named.2).find_map(|(kept, what, _, inside)| {
            let kept = kept.as_ref()?;
            let how = match () {
                _ if kept == path => "is",
                _ if kept.starts_with(path) => "holds",
                _ if inside && path.starts_with(kept) => "lies in",
                _ => return None,
            };
            Some(format!("{how} {what} {}", kept.display()))
        })
    }
}
