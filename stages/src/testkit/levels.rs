//! Tests at each SIMD level the CPU has. `simd::level()` is fixed once per
//! process, so a test checks another level by running its own test binary
//! again with `PIPE_SIMD` set. A level the CPU lacks is skipped with a line
//! saying why, never silently.

use std::ffi::OsStr;
use std::io::Write;
use std::process::Command;

use crate::simd::{self, Level, ENV};

/// The levels this CPU runs, lowest first; `who` (the test) says for each level
/// above the CPU's best that it skips it, and why.
pub fn levels_here(who: &str) -> Vec<Level> {
    let best = simd::detected();
    for level in Level::ALL.into_iter().filter(|&l| l > best) {
        say(&format!("{who}: skipping level {level}: this CPU's best is {best} ({})", simd::cpu_description()));
    }
    Level::ALL.into_iter().filter(|&l| l <= best).collect()
}

/// A line on the test process's stderr. Written to the stream itself: the test
/// harness captures `println!` and `eprintln!` of a passing test, and a skipped
/// level must show in the output of `cargo test` with or without `--nocapture`.
pub fn say(line: &str) {
    // Nothing to do if stderr is gone.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs the tests named `tests` (exact names) of this test binary in a process of
/// its own at `level`, with `env` set as well; panics with the child's output
/// unless every one of them ran and passed.
pub fn run_at(level: Level, tests: &[&str], env: &[(&str, &OsStr)]) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(&exe);
    command.arg("--exact").args(tests).env(ENV, level.name()).env_remove("PIPE_NO_AMX");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let passed = format!("test result: ok. {} passed", tests.len());
    assert!(
        out.status.success() && text.contains(&passed),
        "{} at {ENV}={level} failed or ran fewer than {} tests:\n{text}",
        tests.join(", "),
        tests.len()
    );
}

/// Runs `tests` of this test binary again at each level the CPU has other than
/// the one this process runs at (which the tests themselves cover), saying which.
pub fn rerun_at_other_levels(who: &str, tests: &[&str]) {
    let others: Vec<Level> = levels_here(who).into_iter().filter(|&l| l != simd::level()).collect();
    for &level in &others {
        run_at(level, tests, &[]);
    }
    let names: Vec<&str> = others.iter().map(|l| l.name()).collect();
    say(&format!(
        "{who}: {} tests passed at {} (and at {} in this process)",
        tests.len(),
        names.join(", "),
        simd::level()
    ));
}
