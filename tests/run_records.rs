//! Black-box tests of run records and lock files: a run killed outright keeps what it
//! completed, two pipeline files of one stem do not share a lock file silently, and an
//! empty `PIPE_CACHE` means the default cache.

mod support;

use std::time::{Duration, Instant};

use support::Test;

/// `a` is done in a second; `b` takes long enough to be killed while it runs.
const SLOW: &str = r#"
name: slow
stages:
  a: {uses: shell, run: 'sleep 1; echo a > a.txt', outs: [a.txt]}
  b: {uses: shell, needs: [a], run: 'sleep 30; echo b > b.txt', outs: [b.txt]}
"#;

#[test]
fn gc_keeps_what_a_run_killed_outright_completed() {
    let t = Test::new().pipeline(SLOW);
    let mut run = t.spawn(&["run", "p.yaml"]);
    let started = Instant::now();
    // The record names `a` once it is done (b is then running).
    while !t.cache_entries("runs").iter().any(|r| r.ends_with(".json")) {
        assert!(started.elapsed() < Duration::from_secs(20), "no record of a's completion");
        std::thread::sleep(Duration::from_millis(50));
    }
    run.kill().unwrap();
    run.wait().unwrap();
    let record = t.last_record();
    assert_eq!(record["in_progress"], true, "{record}");
    t.run(&["runs"]).success().stdout_has("unfinished");
    t.run(&["gc"]).success().stdout_has("kept the 1 artifact(s) of run").stdout_has("removed 0 object(s)");
    t.run(&["run", "p.yaml", "--stage", "a"]).success().stdout_has("0 ran, 1 cached");
}

#[test]
fn two_pipeline_files_of_one_stem_are_refused_a_shared_lock_file() {
    let one = "name: one\nstages:\n  a: {uses: shell, run: echo 1 > $PIPE_OUT/x}\n";
    let two = "name: two\nstages:\n  a: {uses: shell, run: echo 2 > $PIPE_OUT/x}\n";
    let t = Test::new().file("p.yaml", one).file("p.yml", two);
    t.run(&["run", "p.yaml"]).success();
    let lock = std::fs::read_to_string(t.path().join("p.lock")).unwrap();
    t.run(&["run", "p.yml"]).code(2).stderr_has("p.lock: written by `p.yaml`, not `p.yml`");
    t.run(&["status", "p.yml"]).code(2).stderr_has("rename one");
    t.run(&["verify", "p.yml"]).code(2);
    assert_eq!(std::fs::read_to_string(t.path().join("p.lock")).unwrap(), lock, "untouched");
    t.run(&["status", "p.yaml"]).success();
}

#[test]
fn an_empty_pipe_cache_means_the_default_cache() {
    let t = Test::new().pipeline("name: e\nstages:\n  a: {uses: shell, run: echo 1 > $PIPE_OUT/x}\n");
    let ran = support::Ran::from(t.command(&["run", "p.yaml"]).env("PIPE_CACHE", "").output().unwrap());
    ran.success();
    assert_eq!(t.cache_entries("objects").len(), 1);
}
