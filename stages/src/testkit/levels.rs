//! Tests at each SIMD level the CPU has. `simd::level()` is fixed once per
//! process, so a test checks another level by running its own test binary
//! again with `PIPE_SIMD` set. A level the CPU lacks is skipped with a line
//! saying why, never silently.

use std::ffi::OsStr;
use std::io::Write;
use std::process::Command;

use crate::simd::{self, Level, ENV};

/// The command that runs this test binary when it was built for another
/// architecture, split at spaces (`.ci/run`: `qemu-aarch64 -L /usr/aarch64-linux-gnu`):
/// cargo's `runner` starts the test binary under the emulator, and the binary's
/// own reruns need the same.
const RUNNER: &str = "PIPE_TEST_RUNNER";

/// Whether this CPU runs `level`; if not, `who` (the test) says that it skips
/// the level, and why.
pub fn runs(who: &str, level: Level) -> bool {
    let best = simd::detected();
    if level > best {
        say(&format!("{who}: skipping level {level}: this CPU's best is {best} ({})", simd::cpu_description()));
    }
    level <= best
}

/// The levels this CPU runs, lowest first, saying which it skips (`runs`).
pub fn levels_here(who: &str) -> Vec<Level> {
    Level::ALL.into_iter().filter(|&l| runs(who, l)).collect()
}

/// A line on the test process's stderr. Written to the stream itself: the test
/// harness captures `println!` and `eprintln!` of a passing test, and a skipped
/// level must show in the output of `cargo test` with or without `--nocapture`.
pub fn say(line: &str) {
    // Nothing to do if stderr is gone.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs this test binary in a process of its own at `level` with the test
/// harness arguments `args` (which select the tests) and `env` set as well;
/// returns how many tests passed, and panics with the child's output if any
/// failed or none ran.
pub fn run_at(level: Level, args: &[&str], env: &[(&str, &OsStr)]) -> usize {
    let exe = std::env::current_exe().expect("the test binary's path");
    let runner = std::env::var(RUNNER).unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut command = match words.next() {
        Some(emulator) => {
            let mut command = Command::new(emulator);
            command.args(words).arg(&exe);
            command
        }
        None => Command::new(&exe),
    };
    command.args(args).env(ENV, level.name()).env_remove("PIPE_NO_AMX");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let passed =
        text.lines().find_map(|l| l.strip_prefix("test result: ok. ")?.split_once(" passed")?.0.parse::<usize>().ok());
    match passed {
        Some(n) if n > 0 && out.status.success() => n,
        _ => panic!("{} {} at {ENV}={level}: failed or ran no test\n{text}", exe.display(), args.join(" ")),
    }
}

/// Runs every test of this test binary but `this_test` (the caller) again at
/// each level the CPU has other than the one this process runs at (which the
/// tests themselves cover), and says at which.
pub fn rerun_at_other_levels(who: &str, this_test: &str) {
    let others: Vec<Level> = levels_here(who).into_iter().filter(|&l| l != simd::level()).collect();
    let passed: Vec<String> =
        others.iter().map(|&level| format!("{} at {level}", run_at(level, &["--skip", this_test], &[]))).collect();
    say(&format!("{who}: tests passed {} (and at {} in this process)", passed.join(", "), simd::level()));
}
