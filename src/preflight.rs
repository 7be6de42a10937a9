//! Checks made before anything runs: every workspace path a selected stage reads or
//! writes (shell `deps` and `outs`) resolves inside the pipeline's directory, links
//! included, and every dep exists unless a stage of the plan produces it. A failure is
//! a configuration error naming file:line and stage; no run record is written and the
//! cache is untouched.

use std::fs;

use pipe_stages::tree;
use pipe_stages::workspace::{self, Last};
use pipe_stages::Registry;

use crate::plan::Plan;
use crate::spec::Pipeline;
use crate::Error;

/// Checks the instances marked in `selected`.
pub fn check(pipeline: &Pipeline, plan: &Plan, registry: &Registry, selected: &[bool]) -> Result<(), Error> {
    let mut produced = Vec::new();
    for inst in &plan.instances {
        if let Some(stage) = registry.get(&inst.kind) {
            produced.extend(stage.workspace(&inst.params).map(|p| p.outs).unwrap_or_default().into_iter().map(normal));
        }
    }
    for (inst, _) in plan.instances.iter().zip(selected).filter(|(_, &s)| s) {
        let Some(stage) = registry.get(&inst.kind) else { continue };
        let fail = |key: &str, message: String| {
            Error::Config(format!("{}: stage `{}`: `{key}`: {message}", pipeline.at(&inst.stage, Some(key)), inst.name))
        };
        let paths = stage.workspace(&inst.params).map_err(|e| fail("with", e.to_string()))?;
        for out in &paths.outs {
            workspace::resolve(&plan.workdir, out, Last::Keep).map_err(|e| fail("outs", e.to_string()))?;
        }
        for dep in &paths.deps {
            let path = workspace::resolve(&plan.workdir, dep, Last::Follow).map_err(|e| fail("deps", e.to_string()))?;
            let made = produced.iter().any(|out| covers(out, &normal(dep.clone())));
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

/// `./a/b/` and `a/b` name the same path.
fn normal(path: String) -> String {
    path.split('/').filter(|p| !p.is_empty() && *p != ".").collect::<Vec<_>>().join("/")
}

/// True when a stage writing `out` produces `dep` (the same path, or one holding the other).
fn covers(out: &str, dep: &str) -> bool {
    let inside = |a: &str, b: &str| a == b || a.strip_prefix(b).is_some_and(|rest| rest.starts_with('/'));
    inside(dep, out) || inside(out, dep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_covers_itself_its_contents_and_its_parents() {
        assert!(covers("data/x.txt", "data/x.txt"));
        assert!(covers("data", "data/x.txt"));
        assert!(covers("data/x.txt", "data"));
        assert!(!covers("data/x", "data/x.txt"));
        assert_eq!(normal("./a//b/".into()), "a/b");
    }
}
