//! A fluent harness for black-box tests of the `pipe` binary (in the spirit of
//! `just`'s): each test gets a temp directory holding the pipeline file, runs
//! `pipe` there (so the default `cache/` lands inside it) and asserts inline.

#![allow(dead_code)] // each test crate uses a different part of the harness

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

pub struct Test {
    dir: tempfile::TempDir,
}

/// The result of one `pipe` invocation, with chainable assertions.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    pub fn new() -> Test {
        Test { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes (or rewrites) a file in the test directory.
    pub fn file(self, rel: &str, contents: &str) -> Test {
        self.write(rel, contents);
        self
    }

    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    /// The pipeline under test, as `p.yaml`.
    pub fn pipeline(self, yaml: &str) -> Test {
        self.file("p.yaml", yaml)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipe"));
        command.args(args).current_dir(self.dir.path()).env_remove("PIPE_CACHE");
        command
    }

    pub fn run(&self, args: &[&str]) -> Ran {
        Ran::from(self.command(args).output().expect("pipe runs"))
    }

    /// Runs `pipe` with the offline HF cache (../shared/hf) as $HF_HOME.
    pub fn run_hub(&self, args: &[&str]) -> Ran {
        Ran::from(
            self.command(args).env("HF_HOME", pipe_stages::testkit::use_offline_hub()).output().expect("pipe runs"),
        )
    }

    /// Runs `pipe` with the offline HF cache at SIMD `level` (`PIPE_SIMD`; None: the
    /// CPU's own, whatever the caller's environment says), without `PIPE_NO_AMX`.
    pub fn run_at(&self, level: Option<&str>, args: &[&str]) -> Ran {
        let mut command = self.command(args);
        command.env("HF_HOME", pipe_stages::testkit::use_offline_hub()).env_remove("PIPE_NO_AMX");
        match level {
            Some(level) => command.env(pipe_stages::simd::ENV, level),
            None => command.env_remove(pipe_stages::simd::ENV),
        };
        Ran::from(command.output().expect("pipe runs"))
    }

    /// Runs `pipe` as a user file permissions apply to (`nobody`, through setpriv, when the
    /// tests run as root, who reads a mode-000 file).
    pub fn run_unprivileged(&self, args: &[&str]) -> Ran {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mut command = self.command(args);
        if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
            std::fs::set_permissions(self.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
            let mut wrapped = Command::new("setpriv");
            wrapped.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", env!("CARGO_BIN_EXE_pipe")]);
            wrapped.args(args).current_dir(self.path()).env_remove("PIPE_CACHE");
            command = wrapped;
        }
        Ran::from(command.output().expect("pipe runs"))
    }

    /// Starts `pipe` without waiting (for concurrency and kill tests).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("pipe starts")
    }

    /// Lines of a file the shell stages append to (outside any artifact), or none.
    pub fn lines(&self, rel: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// A disk of `bytes` at `rel` in the test directory (see [`SmallDisk`]).
    pub fn small_disk(&self, rel: &str, bytes: u64) -> SmallDisk {
        SmallDisk::mount(&self.dir.path().join(rel), bytes)
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Entries under cache/<sub> (empty when missing).
    pub fn cache_entries(&self, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.cache().join(sub))
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The newest run record.
    pub fn last_record(&self) -> Value {
        let id = self.cache_entries("runs").into_iter().rfind(|n| n.ends_with(".json")).expect("a run record");
        serde_json::from_str(&std::fs::read_to_string(self.cache().join("runs").join(id)).unwrap()).unwrap()
    }

    /// instance -> cached|ran|failed|skipped, from the newest run record.
    pub fn statuses(&self) -> BTreeMap<String, String> {
        statuses(&self.last_record())
    }
}

pub fn statuses(record: &Value) -> BTreeMap<String, String> {
    by_instance(record, "status")
}

/// instance -> one string field of its entry (`status`, `key`, `artifact`) in a run record.
pub fn by_instance(record: &Value, field: &str) -> BTreeMap<String, String> {
    record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["instance"].as_str().unwrap().to_string(), s[field].as_str().unwrap().to_string()))
        .collect()
}

/// `[("a", "cached"), ...]` as the map `statuses` returns.
pub fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

impl From<Output> for Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Ran {
    pub fn code(self, code: i32) -> Ran {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    pub fn success(self) -> Ran {
        self.code(0)
    }

    pub fn stdout_has(self, text: &str) -> Ran {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn stderr_has(self, text: &str) -> Ran {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}\n--- stderr\n{}", self.stderr);
        self
    }
}

/// A tmpfs of a given size, to fill up (ENOSPC); unmounted when dropped. Mounting needs
/// root: without it the test fails, saying so, rather than passing untested.
pub struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    pub fn mount(dir: &Path, bytes: u64) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let out =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"]).arg(dir).output();
        match out {
            Ok(o) if o.status.success() => SmallDisk { dir: dir.to_path_buf() },
            Ok(o) => panic!(
                "cannot mount a {bytes}-byte tmpfs at {} ({}): the full-disk tests need root and mount(8); run them as root",
                dir.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("cannot run mount(8) ({e}): the full-disk tests need it, and root"),
        }
    }

    /// A shell command that fills this disk but for `left` bytes (the file `filler` on it).
    pub fn fill_leaving(&self, left: u64) -> String {
        let dir = self.dir.display();
        format!("head -c $(( $(df --output=avail -B1 {dir} | tail -1) - {left} )) /dev/zero > {dir}/filler")
    }

    /// Removes what [`SmallDisk::fill_leaving`] wrote.
    pub fn free(&self) {
        std::fs::remove_file(self.dir.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily, should a process of the test still hold a file there.
        let _ = Command::new("umount").arg("--lazy").arg(&self.dir).status();
    }
}

/// True while process `pid` runs (a zombie awaiting its reaper counts as gone).
pub fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) != Some("Z"))
}

/// Rewrites `file` of a sealed object with `bytes` of the same length and puts its mtime back:
/// bit rot, which the stat check of lookups cannot see.
pub fn rot(file: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    let mtime = std::fs::metadata(file).unwrap().modified().unwrap();
    assert_eq!(std::fs::metadata(file).unwrap().len(), bytes.len() as u64, "same size");
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(file, bytes).unwrap();
    std::fs::File::options().write(true).open(file).unwrap().set_modified(mtime).unwrap();
}
