//! Engine costs that grow with the size of an out or of a pipeline: each must stay linear.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::Test;

/// A chain of `n` shell stages, each copying its upstream's out.
fn chain(n: usize) -> String {
    let mut yaml = String::from("name: chain\nstages:\n  s0: {uses: shell, run: echo 0 > o0.txt, outs: [o0.txt]}\n");
    for i in 1..n {
        let j = i - 1;
        yaml.push_str(&format!(
            "  s{i}: {{uses: shell, needs: [s{j}], run: cat o{j}.txt > o{i}.txt, deps: [o{j}.txt], outs: [o{i}.txt]}}\n"
        ));
    }
    yaml
}

/// The fastest of three `pipe status` of a chain of `n` stages (never run: the pre-run
/// checks and the probe are what is timed).
fn status_time(n: usize) -> Duration {
    let t = Test::new().pipeline(&chain(n));
    (0..3)
        .map(|_| {
            let started = Instant::now();
            t.run(&["status", "p.yaml"]).success().stdout_has(&format!("{n} of {n} stage instance(s) stale"));
            started.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
fn status_of_a_long_chain_takes_time_in_proportion_to_its_length() {
    // Linear is 4x; the quadratic checks this guards against made it 13x (0.44 s against 5.7 s).
    let (short, long) = (status_time(500), status_time(2000));
    let ratio = long.as_secs_f64() / short.as_secs_f64();
    assert!(ratio < 8.0, "500 stages: {short:?}, 2,000 stages: {long:?} ({ratio:.1}x)");
}

/// How often `pipe run p.yaml` in `t` calls each of `syscalls`, by strace's count; None
/// (the test is skipped) without strace.
fn syscalls(t: &Test, syscalls: &[&str]) -> Option<Vec<usize>> {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("strace is not installed: skipped");
        return None;
    }
    let log = t.path().join("strace.log");
    let ran = Command::new("strace")
        .args(["-f", "-c", "-e", &format!("trace={}", syscalls.join(",")), "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_pipe"))
        .args(["run", "p.yaml"])
        .current_dir(t.path())
        .env_remove("PIPE_CACHE")
        .output()
        .expect("strace runs");
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let table = std::fs::read_to_string(&log).unwrap();
    // "% time  seconds  usecs/call  calls  [errors]  syscall": calls is the fourth column.
    let calls = |name: &str| {
        let row = table.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|f| f.last() == Some(&name));
        row.map_or(0, |f| f[3].parse().unwrap())
    };
    Some(syscalls.iter().map(|s| calls(s)).collect())
}

#[test]
#[cfg(target_os = "linux")]
fn an_out_of_many_files_is_synced_at_once_not_file_by_file() {
    let t = Test::new().pipeline(
        "name: many\nstages:\n  a: {uses: shell, run: 'mkdir out; for i in $(seq 2000); do echo $i > out/f$i; done', outs: [out]}\n",
    );
    // An fsync each took 10 s for 10,000 files; the record, stamp and lock file keep theirs.
    let Some(&[fsync, syncfs]) = syscalls(&t, &["fsync", "syncfs"]).as_deref() else { return };
    assert!(fsync < 100 && syncfs == 1, "{fsync} fsync, {syncfs} syncfs");
    assert_eq!(std::fs::read_dir(t.path().join("out")).unwrap().count(), 2000);
}

#[test]
#[cfg(target_os = "linux")]
fn a_run_journals_each_instance_instead_of_rewriting_its_record() {
    let t = Test::new().pipeline(&chain(100));
    // One rename per instance commits its artifact; the record took one more each when it
    // was rewritten whole after every instance (O(n²) bytes: 1 GB for 2,000 stages).
    let Some(renames) = syscalls(&t, &["rename", "renameat", "renameat2"]) else { return };
    let renames: usize = renames.iter().sum();
    assert!(renames < 120, "{renames} renames for 100 instances");
    assert_eq!(t.cache_entries("runs").len(), 1, "the finished record alone, its journal removed");
}
