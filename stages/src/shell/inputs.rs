//! Where a command finds its upstream artifacts: `PIPE_INPUTS` and `PIPE_INPUT_<STAGE>`, one
//! directory per line, and the same lists in files (`PIPE_INPUTS_LIST`,
//! `PIPE_INPUT_<STAGE>_LIST`). A gather of about 1,500 instances does not fit in a variable:
//! the kernel takes at most 32 pages (128 KiB) per environment string.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Input, StageError};

/// Longest value set as a variable: the kernel's 128 KiB per `NAME=value` string, less room
/// for the name.
const MAX_VALUE: usize = 128 * 1024 - 256;

/// The list files of one command, removed when it has ended.
pub struct Lists(Vec<PathBuf>);

impl Drop for Lists {
    fn drop(&mut self) {
        for file in &self.0 {
            let _ = fs::remove_file(file);
        }
    }
}

/// Sets the input variables of `command` (whose text is `run`) and writes their list files
/// beside `out_dir`. A list too long for a variable is left unset, so a script reading it
/// fails loudly; a command that names it is refused before it starts, pointing to the file.
pub fn set(command: &mut Command, run: &str, inputs: &[Input], out_dir: &Path) -> Result<Lists, StageError> {
    let mut by_name: BTreeMap<String, Vec<&Path>> = BTreeMap::new();
    by_name.insert("PIPE_INPUTS".into(), inputs.iter().map(|i| i.dir.as_path()).collect());
    for input in inputs {
        by_name.entry(format!("PIPE_INPUT_{}", super::env_name(&input.stage))).or_default().push(&input.dir);
    }
    let mut lists = Lists(Vec::new());
    for (name, dirs) in by_name {
        let value = join_dirs(&dirs);
        let mut text = value.as_encoded_bytes().to_vec();
        if !dirs.is_empty() {
            text.push(b'\n');
        }
        let file = super::sibling(out_dir, &format!(".{name}"));
        // Listed first, so one cut short (a full disk) goes too.
        lists.0.push(file.clone());
        fs::write(&file, &text).map_err(StageError::io(&file))?;
        command.env(format!("{name}_LIST"), &file);
        if value.len() <= MAX_VALUE {
            command.env(&name, &value);
        } else if names(run, &name) {
            return Err(StageError::Failed(format!(
                "`${name}` would hold {} directories ({} KiB), more than the 128 KiB the kernel allows one \
                 environment variable: read `${name}_LIST` instead, a file with one directory per line \
                 (`while read -r d; do …; done < \"${name}_LIST\"`)",
                dirs.len(),
                value.len() / 1024
            )));
        }
    }
    Ok(lists)
}

/// Whether the shell text `run` expands variable `name` (`$NAME` not followed by more of a
/// name, or `${NAME}`).
fn names(run: &str, name: &str) -> bool {
    let plain = format!("${name}");
    run.contains(&format!("${{{name}}}"))
        || run
            .match_indices(&plain)
            .any(|(at, _)| !run[at + plain.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

/// The directories, one per line, with no newline after the last.
fn join_dirs(dirs: &[&Path]) -> OsString {
    let mut joined = OsString::new();
    for (i, dir) in dirs.iter().enumerate() {
        if i > 0 {
            joined.push("\n");
        }
        joined.push(dir);
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(n: usize, dir_len: usize) -> Vec<Input> {
        let input = |i: usize| Input {
            stage: "gen".into(),
            kind: "shell".into(),
            instance: format!("gen[i={i}]"),
            matrix: Default::default(),
            params: serde_json::Value::Null,
            dir: PathBuf::from(format!("/c/{i:0>dir_len$}")),
            metrics: serde_json::Value::Null,
        };
        (0..n).map(input).collect()
    }

    fn env(command: &Command, name: &str) -> Option<String> {
        command.get_envs().find(|(k, _)| *k == name).and_then(|(_, v)| v).map(|v| v.to_string_lossy().into_owned())
    }

    #[test]
    fn lists_go_to_files_and_to_variables_when_they_fit() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("k-1");
        let mut command = Command::new("sh");
        let lists = set(&mut command, "cat $PIPE_INPUT_GEN_LIST", &inputs(2, 3), &out).unwrap();
        assert_eq!(env(&command, "PIPE_INPUT_GEN").unwrap(), "/c/000\n/c/001");
        assert_eq!(env(&command, "PIPE_INPUTS").unwrap(), "/c/000\n/c/001");
        let file = env(&command, "PIPE_INPUT_GEN_LIST").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "/c/000\n/c/001\n");
        drop(lists);
        assert!(!Path::new(&file).exists(), "removed when the command has ended");

        // 200 directories of 700 bytes: 140 KB, more than one variable may hold.
        let many = inputs(200, 700);
        let mut command = Command::new("sh");
        let _lists = set(&mut command, "python gather.py < $PIPE_INPUT_GEN_LIST", &many, &out).unwrap();
        assert_eq!(env(&command, "PIPE_INPUT_GEN"), None, "unset, so a script reading it fails loudly");
        let file = env(&command, "PIPE_INPUT_GEN_LIST").unwrap();
        assert_eq!(fs::read_to_string(file).unwrap().lines().count(), 200);
        for run in ["for d in $PIPE_INPUT_GEN; do :; done", "ls ${PIPE_INPUTS}"] {
            let err = set(&mut Command::new("sh"), run, &many, &out).err().unwrap().to_string();
            assert!(err.contains("would hold 200 directories") && err.contains("_LIST"), "{err}");
        }
    }
}
