//! `.dvcignore` files, as DVC reads them when it hashes a dvc.yaml stage's dep directories:
//! gitignore rules, each file for its own directory and below, a deeper file's patterns
//! deciding over a shallower one's; an ignored directory is not entered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

use crate::StageError;

/// The rules of the DVC repository at `up` from `workdir` (`""`, `..`): what a dvc.yaml
/// stage's params give; None for other shell stages.
pub fn of(workdir: &Path, up: Option<&str>) -> Result<Option<DvcIgnore>, StageError> {
    let Some(up) = up else { return Ok(None) };
    let root = workdir.join(up);
    let root = std::fs::canonicalize(&root).map_err(StageError::io(&root))?;
    Ok(Some(DvcIgnore::new(&root)))
}

/// The `.dvcignore` rules of one DVC repository, read as the directories holding them are met.
pub struct DvcIgnore {
    root: PathBuf,
    read: HashMap<PathBuf, Option<Gitignore>>,
}

impl DvcIgnore {
    /// The rules of the repository whose root is `root` (as the paths asked about spell it).
    pub fn new(root: &Path) -> DvcIgnore {
        DvcIgnore { root: root.to_path_buf(), read: HashMap::new() }
    }

    /// Whether `path`, a directory when `is_dir`, is ignored: the `.dvcignore` files from the
    /// root down to `path`'s directory are asked in turn, the last that matches deciding.
    /// A path outside the root is not.
    pub fn ignores(&mut self, path: &Path, is_dir: bool) -> Result<bool, StageError> {
        let Ok(below) = path.strip_prefix(&self.root) else { return Ok(false) };
        let mut ignored = false;
        let mut dir = self.root.clone();
        for part in below.components() {
            match self.matcher(&dir)?.map(|rules| rules.matched(path, is_dir)) {
                Some(Match::Ignore(_)) => ignored = true,
                Some(Match::Whitelist(_)) => ignored = false,
                _ => {}
            }
            dir.push(part);
        }
        Ok(ignored)
    }

    /// [`DvcIgnore::ignores`] as a walk asks it ([`crate::tree::Skip`]).
    pub fn skip(&mut self) -> impl FnMut(&Path, bool) -> Result<bool, StageError> + '_ {
        move |path, is_dir| self.ignores(path, is_dir)
    }

    /// The rules of `dir`'s own `.dvcignore`, if it has one.
    fn matcher(&mut self, dir: &Path) -> Result<Option<&Gitignore>, StageError> {
        if !self.read.contains_key(dir) {
            let file = dir.join(".dvcignore");
            let rules = match file.is_file() {
                false => None,
                true => {
                    let mut builder = GitignoreBuilder::new(dir);
                    let bad = |e: ignore::Error| StageError::Input(format!("{}: {e}", file.display()));
                    if let Some(e) = builder.add(&file) {
                        return Err(bad(e));
                    }
                    Some(builder.build().map_err(bad)?)
                }
            };
            self.read.insert(dir.to_path_buf(), rules);
        }
        Ok(self.read[dir].as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_below_their_file_and_a_deeper_file_decides() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("data/keep")).unwrap();
        std::fs::write(root.join(".dvcignore"), "*.tmp\n/top-only\ncache/\n").unwrap();
        std::fs::write(root.join("data/.dvcignore"), "!important.tmp\nlocal.txt\n").unwrap();
        let mut rules = DvcIgnore::new(root);
        let mut ignores = |rel: &str, is_dir: bool| rules.ignores(&root.join(rel), is_dir).unwrap();
        assert!(ignores("a.tmp", false) && ignores("data/keep/b.tmp", false));
        assert!(!ignores("data/important.tmp", false), "a deeper file's `!` re-includes");
        assert!(ignores("top-only", false) && !ignores("data/top-only", false), "`/` anchors to its file's directory");
        assert!(ignores("data/cache", true) && !ignores("data/cache", false), "`cache/` is for directories");
        assert!(ignores("data/local.txt", false) && !ignores("local.txt", false), "a file's rules hold below it only");
        assert!(!ignores("data/keep/x.csv", false));
        assert!(!rules.ignores(Path::new("/elsewhere/a.tmp"), false).unwrap());
    }
}
