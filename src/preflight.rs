//! Checks made before anything runs, on the workspace paths the stages read and write
//! (shell `deps` and `outs`). Each resolves inside the pipeline's directory, links
//! included. No out may hold the directory itself, the pipeline file, its lock file or
//! the cache (pipe removes an out before its command runs), nor overlap another
//! instance's outs or its own deps. A dep that a stage of the plan writes must come from
//! an upstream, so it is written before it is read; every other dep must exist, and none
//! may hold the cache or the lock file, which change on every run. Each stage's own
//! [`pipe_stages::Stage::check`] runs here too (a model's limits, an ablation's
//! reference), so that a wrong value is not met after hours of upstream work. A failure is a
//! configuration error naming file:line and stage; no run record is written and the
//! cache is untouched.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Bound;
use std::path::{Component, Path, PathBuf};

use pipe_stages::workspace::{self, Last};
use pipe_stages::{shell, Registry, StageError, Upstream};

use crate::plan::Plan;
use crate::remote::config;
use crate::spec::{Pipeline, SHELL};
use crate::{lockfile, Error};

/// A declared workspace path and where it leads, or why it leads nowhere pipe may go
/// (reported by its own instance's check). Overlaps are judged on where paths lead, so
/// `alias/o.txt` with `alias -> data` is `data/o.txt`.
struct Declared {
    text: String,
    at: Result<PathBuf, String>,
}

impl Declared {
    fn all(workdir: &Path, texts: &[String], last: Last) -> Vec<Declared> {
        let at = |t: &String| workspace::resolve(workdir, t, last).map_err(|e| e.to_string());
        texts.iter().map(|t| Declared { text: t.clone(), at: at(t) }).collect()
    }

    /// One is the other or lies inside it.
    fn overlaps(&self, other: &Path) -> bool {
        self.at.as_ref().is_ok_and(|at| at.starts_with(other) || other.starts_with(at))
    }
}

/// Each instance's own [`pipe_stages::Stage::check`], for those marked in `selected`.
fn stage_checks(pipeline: &Pipeline, plan: &Plan, registry: &Registry, selected: &[bool]) -> Result<(), Error> {
    for inst in plan.instances.iter().zip(selected).filter(|(_, s)| **s).map(|(inst, _)| inst) {
        let Some(stage) = registry.get(&inst.kind) else { continue };
        let inputs: Vec<Upstream> = (inst.inputs.iter())
            .map(|&u| {
                let up = &plan.instances[u];
                Upstream { name: &up.name, kind: &up.kind, params: &up.params, matrix: &up.matrix }
            })
            .collect();
        if let Err(StageError::Param { key, message }) = stage.check(&inst.params, &plan.workdir, &inputs) {
            let at = pipeline.at(&inst.stage, Some(&key));
            return Err(Error::Config(format!("{at}: stage `{}`: `{key}`: {message}", inst.name)));
        }
    }
    Ok(())
}

/// Checks the instances marked in `selected`; `cache` is the store's directory.
pub fn check(
    pipeline: &Pipeline,
    plan: &Plan,
    registry: &Registry,
    selected: &[bool],
    cache: &Path,
) -> Result<(), Error> {
    let outs: Vec<Vec<Declared>> = plan
        .instances
        .iter()
        .map(|inst| {
            let paths = registry.get(&inst.kind).and_then(|s| s.workspace(&inst.params).ok()).unwrap_or_default();
            Declared::all(&plan.workdir, &paths.outs, Last::Keep)
        })
        .collect();
    stage_checks(pipeline, plan, registry, selected)?;
    let upstream = Ancestors::of(plan);
    let index = OutIndex::of(&outs);
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
        // Another instance writing where `path` leads; for a dep, one that does not run before this one.
        let writer = |path: &Path, any: bool| {
            (index.overlapping(path))
                .filter(|&(j, _)| j != i && (any || !upstream.has(i, j)))
                .min()
                .map(|(j, k)| (j, &outs[j][k].text))
        };
        let deps = Declared::all(&plan.workdir, &own.deps, Last::Follow);
        for Declared { text: out, at } in &outs[i] {
            let path = at.clone().map_err(|e| fail("outs", e))?;
            if let Some(what) = kept.held_by(&path, true) {
                return Err(fail("outs", format!("`{out}` {what}, and pipe removes an out before its command runs")));
            }
            if let Some(dep) = deps.iter().find(|d| d.overlaps(&path)) {
                return Err(fail(
                    "outs",
                    format!("`{out}` overlaps the stage's own dep `{}`: a stage cannot read what it writes", dep.text),
                ));
            }
            if let Some((j, other)) = writer(&path, true) {
                let by = &plan.instances[j].name;
                return Err(fail(
                    "outs",
                    format!("`{out}` overlaps out `{other}` of `{by}`: two stages cannot write the same path"),
                ));
            }
        }
        for Declared { text: dep, at } in &deps {
            let path = at.clone().map_err(|e| fail("deps", e))?;
            if let Some(what) = kept.held_by(&path, false) {
                return Err(fail(
                    "deps",
                    format!("`{dep}` {what}, which changes on every run: name what the command reads"),
                ));
            }
            if let Some((j, out)) = writer(&path, false) {
                let by = &plan.instances[j];
                let fix = if upstream.has(j, i) {
                    "which runs after this stage (it needs it): a stage cannot read what a later one writes".to_string()
                } else {
                    format!(
                        "which this stage does not need: add `needs: [{}]` so that it is written before it is read",
                        by.stage
                    )
                };
                return Err(fail("deps", format!("`{dep}` overlaps out `{out}` of `{}`, {fix}", by.name)));
            }
            let made = index.overlapping(&path).next().is_some();
            // Every file is opened, as the key's hash of the deps will: one that cannot be read
            // is a bad input, found here rather than as a failure halfway through the run.
            let readable = |file: &Path| {
                fs::File::open(file).map(drop).map_err(|e| fail("deps", format!("`{dep}`: {}: {e}", file.display())))
            };
            match fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    let files = shell::dep_dir_files(&plan.workdir, &own, &path)
                        .map_err(|e| fail("deps", format!("`{dep}`: {e}")))?;
                    files.iter().try_for_each(|(_, file)| readable(file))?;
                }
                Ok(_) => readable(&path)?,
                Err(_) if made => {}
                Err(e) => {
                    return Err(fail("deps", format!("`{dep}` cannot be read in {}: {e}", plan.workdir.display())));
                }
            }
        }
    }
    Ok(())
}

/// For each instance, the set of instances upstream of it, as bits: a chain of n stages
/// has n²/2 pairs, which lists of indices would hold and search one by one.
struct Ancestors {
    words: usize,
    bits: Vec<u64>,
}

impl Ancestors {
    fn of(plan: &Plan) -> Ancestors {
        let n = plan.instances.len();
        let words = n.div_ceil(64);
        let mut bits = vec![0u64; n * words];
        // Plan order is topological: an instance's inputs already have theirs.
        for (i, inst) in plan.instances.iter().enumerate() {
            for &u in &inst.inputs {
                bits[i * words + u / 64] |= 1 << (u % 64);
                for w in 0..words {
                    bits[i * words + w] |= bits[u * words + w];
                }
            }
        }
        Ancestors { words, bits }
    }

    /// Whether `j` is upstream of `i`.
    fn has(&self, i: usize, j: usize) -> bool {
        self.bits[i * self.words + j / 64] & (1 << (j % 64)) != 0
    }
}

/// The declared outs by where they lead, so the outs overlapping a path are found by
/// lookups rather than by comparing it with every out of the plan.
struct OutIndex {
    /// Resolved path -> (instance, position in its outs).
    at: BTreeMap<PathBuf, Vec<(usize, usize)>>,
}

impl OutIndex {
    fn of(outs: &[Vec<Declared>]) -> OutIndex {
        let mut at: BTreeMap<PathBuf, Vec<(usize, usize)>> = BTreeMap::new();
        for (j, declared) in outs.iter().enumerate() {
            for (k, d) in declared.iter().enumerate() {
                if let Ok(path) = &d.at {
                    at.entry(path.clone()).or_default().push((j, k));
                }
            }
        }
        OutIndex { at }
    }

    /// The outs that are `path`, lie inside it or hold it, as [`Declared::overlaps`] judges.
    fn overlapping<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = (usize, usize)> + 'a {
        // Paths order component by component, so those inside `path` follow it directly.
        let inside = self.at.range::<Path, _>((Bound::Included(path), Bound::Unbounded));
        let holding = path.ancestors().skip(1).filter_map(|a| self.at.get(a));
        (inside.take_while(move |(p, _)| p.starts_with(path)).map(|(_, v)| v)).chain(holding).flatten().copied()
    }
}

/// Files that are not the stages' to write or read, by resolved path: no out may hold any,
/// and no dep the ones a run changes.
struct Kept {
    /// (path, what it is, a dep may hold it, a path inside it counts too)
    named: Vec<(PathBuf, String, bool, bool)>,
}

impl Kept {
    fn of(plan: &Plan, cache: &Path) -> Kept {
        let mut named = Vec::new();
        let mut add = |p: &Path, what: &str, read: bool, inside: bool| {
            if let Some(at) = real(p) {
                named.push((at, what.to_string(), read, inside));
            }
        };
        add(&plan.workdir, "the pipeline's directory", true, false);
        add(&plan.file, "the pipeline file", true, false);
        add(&lockfile::path_for(&plan.file), "the pipeline's lock file", false, false);
        add(cache, "pipe's cache", false, true);
        // Other tools' files in the project: a stage's out would remove them.
        for (name, what) in
            [(".git", "git's repository"), (".dvc", "DVC's directory"), (config::FILE, "pipe's project file")]
        {
            add(&plan.workdir.join(name), what, true, true);
        }
        Kept { named }
    }

    /// What resolved path `path` is or holds, named: any kept path for an out, only those
    /// a run changes (the lock file, the cache) for a dep.
    fn held_by(&self, path: &Path, out: bool) -> Option<String> {
        self.named.iter().filter(|(_, _, read, _)| out || !read).find_map(|(kept, what, _, inside)| {
            let how = match () {
                _ if kept == path => "is",
                _ if kept.starts_with(path) => "holds",
                _ if *inside && path.starts_with(kept) => "lies in",
                _ => return None,
            };
            Some(format!("{how} {what} {}", kept.display()))
        })
    }
}

/// Where `p` leads, as `workspace::resolve` gives declared paths: the longest part that
/// exists made canonical, the rest (a cache or lock file not made yet, which holds no
/// links) joined to it with its `.` and `..` applied.
fn real(p: &Path) -> Option<PathBuf> {
    let p = std::path::absolute(p).ok()?;
    let (base, mut at) = p.ancestors().find_map(|a| Some((a, fs::canonicalize(a).ok()?)))?;
    for part in p.strip_prefix(base).ok()?.components() {
        match part {
            Component::ParentDir => {
                at.pop();
            }
            Component::Normal(name) => at.push(name),
            _ => {}
        }
    }
    Some(at)
}
