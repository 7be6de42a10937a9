//! Failures, SIGKILL mid-stage and concurrent runs: the store never holds a
//! partial artifact and never computes a key twice.

mod support;

use std::time::{Duration, Instant};

use support::{alive, by_instance, expect, statuses, Ran, Test};

/// b fails while `fail` exists and hangs while `hang` exists; neither file is a dep, so the key stays the same.
const FLAKY: &str = include_str!("pipelines/flaky.yaml");

fn objects_with(t: &Test, file: &str) -> usize {
    t.cache_entries("objects").iter().filter(|k| t.cache().join("objects").join(k).join(file).exists()).count()
}

#[test]
fn a_failing_stage_leaves_no_artifact_and_the_next_run_completes() {
    let t = Test::new().pipeline(FLAKY).file("fail", "");
    t.run(&["run", "p.yaml"])
        .code(1)
        .stderr_has("exit code 3")
        .stderr_has("disk on fire")
        .stderr_has("1 stage(s) failed: b");
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "failed"), ("c", "skipped")]));
    assert_eq!(objects_with(&t, "b"), 0, "no artifact for the failed stage");
    assert!(t.cache_entries("tmp").is_empty(), "the failed attempt was cleaned up: {:?}", t.cache_entries("tmp"));
    std::fs::remove_file(t.path().join("fail")).unwrap();
    t.run(&["run", "p.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "ran"), ("c", "ran")]));
}

#[test]
fn a_named_pipe_in_an_artifact_or_a_dep_is_refused_not_waited_on() {
    let t = Test::new().pipeline("name: f\nstages:\n  a: {uses: shell, run: mkfifo $PIPE_OUT/ff}\n");
    t.run(&["run", "p.yaml"]).code(1).stderr_has("ff: a named pipe (FIFO); pipe reads and stores regular files");
    assert!(t.cache_entries("tmp").is_empty(), "the failed attempt was cleaned up");
    let t = Test::new().pipeline("name: f\nstages:\n  a: {uses: shell, run: ls in, deps: [in]}\n");
    std::fs::create_dir(t.path().join("in")).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(t.path().join("in/ff")).status().unwrap().success());
    t.run(&["run", "p.yaml"]).code(2).stderr_has("stage `a`: `deps`: `in`: ").stderr_has("in/ff: a named pipe");
    t.run(&["status", "p.yaml", "--why"])
        .code(2)
        .stderr_has("stage `a`: `deps`: `in`: ")
        .stderr_has("in/ff: a named pipe");
}

#[test]
fn a_sigkilled_run_leaves_no_artifact_and_the_next_run_completes() {
    let t = Test::new().pipeline(FLAKY).file("hang", "");
    let mut child = t.spawn(&["run", "p.yaml"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !t.lines("ran.log").contains(&"b".to_string()) {
        assert!(Instant::now() < deadline, "stage b never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    while !t.path().join("sleep.pid").exists() {
        assert!(Instant::now() < deadline, "stage b never started its sleep");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    // What the stage's command started dies with `pipe` instead of running on.
    let pid = t.lines("sleep.pid")[0].clone();
    while alive(&pid) {
        assert!(Instant::now() < deadline, "the stage's `sleep 60` (pid {pid}) outlived the SIGKILLed pipe");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(objects_with(&t, "b"), 0, "no artifact for the killed stage");
    // The killed attempt's private dir is all that is left, with the files beside it that
    // bear its name (the command's input lists).
    let left = t.cache_entries("tmp");
    let dirs: Vec<&String> = left.iter().filter(|e| t.cache().join("tmp").join(e).is_dir()).collect();
    assert_eq!(dirs.len(), 1, "{left:?}");
    assert!(left.iter().all(|e| e.starts_with(dirs[0].as_str())), "{left:?}");
    std::fs::remove_file(t.path().join("hang")).unwrap();
    t.run(&["run", "p.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "ran"), ("c", "ran")]));
    assert!(t.cache_entries("tmp").is_empty(), "the leftover was removed: {:?}", t.cache_entries("tmp"));
    let c = t.cache().join("objects").join(t.last_record()["stages"][2]["key"].as_str().unwrap()).join("c");
    assert_eq!(std::fs::read_to_string(c).unwrap(), "partial\nB\n");
}

#[test]
fn concurrent_runs_compute_each_stage_once_and_agree() {
    let t = Test::new().pipeline(
        r#"
name: race
stages:
  a: {uses: shell, run: echo a >> ran.log; sleep 0.3; echo A > $PIPE_OUT/a}
  b:
    uses: shell
    needs: [a]
    matrix: {x: [1, 2]}
    run: echo b${matrix.x} >> ran.log; sleep 0.3; cat $PIPE_INPUT_A/a > $PIPE_OUT/b; echo ${matrix.x} >> $PIPE_OUT/b
  c: {uses: shell, gather: [b], run: echo c >> ran.log; sleep 0.3; for d in $PIPE_INPUTS; do cat $d/b; done > $PIPE_OUT/c}
"#,
    );
    let children: Vec<_> = (0..2).map(|_| t.spawn(&["run", "p.yaml"])).collect();
    let ran: Vec<Ran> = children.into_iter().map(|c| Ran::from(c.wait_with_output().unwrap())).collect();
    for r in ran {
        r.success();
    }
    let mut log = t.lines("ran.log");
    log.sort();
    assert_eq!(log, ["a", "b1", "b2", "c"], "every stage computed exactly once");
    let runs = t.cache_entries("runs");
    assert_eq!(runs.len(), 2);
    let records: Vec<serde_json::Value> = runs
        .iter()
        .map(|id| serde_json::from_str(&std::fs::read_to_string(t.cache().join("runs").join(id)).unwrap()).unwrap())
        .collect();
    let (first, second) = (statuses(&records[0]), statuses(&records[1]));
    for (instance, status) in &first {
        let other = &second[instance];
        assert!(
            [status.as_str(), other.as_str()].contains(&"ran") && [status.as_str(), other.as_str()].contains(&"cached"),
            "{instance}: {status} / {other}"
        );
    }
    assert_eq!(
        by_instance(&records[0], "artifact"),
        by_instance(&records[1], "artifact"),
        "both runs resolved to identical artifacts"
    );
    assert!(t.cache_entries("tmp").is_empty());
}

#[test]
fn gc_removes_what_no_kept_run_references() {
    let t = Test::new()
        .pipeline("name: g\nparams: {v: 1}\nstages:\n  a: {uses: shell, run: 'echo ${params.v} > $PIPE_OUT/a'}\n");
    t.run(&["run", "p.yaml"]).success();
    t.run(&["run", "p.yaml", "--set", "params.v=2"]).success();
    assert_eq!(t.cache_entries("objects").len(), 2);
    t.run(&["gc"]).success().stdout_has("removed 0 object(s)");
    t.run(&["gc", "--keep", "1"]).success().stdout_has("removed 1 object(s)");
    assert_eq!(t.cache_entries("objects").len(), 1);
    t.run(&["runs"]).success().stdout_has("params.v=2");
    t.run(&["run", "p.yaml", "--set", "params.v=2"]).success().stdout_has("0 ran, 1 cached");
}

#[test]
fn gc_keep_counts_whole_runs_so_a_stage_run_after_one_keeps_the_rest_of_the_pipeline() {
    let t = Test::new()
        .pipeline("name: two\nstages:\n  a: {uses: shell, run: echo a > $PIPE_OUT/a}\n  b: {uses: shell, run: echo b > $PIPE_OUT/b}\n");
    t.run(&["run", "p.yaml"]).success();
    t.run(&["run", "p.yaml", "--stage", "a", "--force"]).success();
    t.run(&["gc", "--keep", "1"]).success().stdout_has("removed 0 object(s)");
    t.run(&["status", "p.yaml"]).success().stdout_has("0 of 2 stage instance(s) stale");
    // A newer whole run is the one kept; the stage run before it goes.
    t.run(&["run", "p.yaml"]).success();
    t.run(&["gc", "--keep", "1"]).success();
    assert_eq!(t.cache_entries("runs").iter().filter(|n| n.ends_with(".json")).count(), 1);
}

#[test]
fn gc_keep_counts_successful_runs_so_a_failed_run_after_one_keeps_what_the_lock_file_names() {
    let t = Test::new().pipeline(
        "name: f\nparams: {fail: 0}\nstages:\n  a: {uses: shell, run: echo a > $PIPE_OUT/a}\n  b: {uses: shell, run: 'echo b${params.fail} > $PIPE_OUT/b; exit ${params.fail}'}\n",
    );
    t.run(&["run", "p.yaml"]).success();
    t.run(&["run", "p.yaml", "--set", "params.fail=1"]).code(1);
    t.run(&["gc", "--keep", "1"]).success().stdout_has("removed 0 object(s)");
    t.run(&["status", "p.yaml"]).success().stdout_has("0 of 2 stage instance(s) stale");
    t.run(&["verify", "p.yaml"]).success();
}

#[test]
fn a_cache_that_fills_up_keeps_what_the_run_made_and_its_lock_file_and_names_what_was_not_written() {
    let t = Test::new();
    let disk = t.small_disk("cache", 2 << 20);
    // While `fill` (no dep: the key stays) exists, b (with no inputs, whose lists would free
    // pages when it ends) fills the cache: its own artifact, c's input lists and the run's
    // final record find no room.
    t.write(
        "p.yaml",
        &format!(
            "name: full\nstages:\n  a: {{uses: shell, run: 'echo a > a.txt', outs: [a.txt]}}\n  b: {{uses: shell, run: 'echo b > b.txt; if [ -e fill ]; then {}; fi', outs: [b.txt]}}\n  c: {{uses: shell, needs: [a], run: 'echo c > c.txt', outs: [c.txt]}}\n",
            disk.fill_leaving(0)
        ),
    );
    t.write("fill", "");
    t.run(&["run", "p.yaml", "-j", "1"])
        .code(1)
        .stdout_has("1 ran, 0 cached, 2 failed, 0 skipped")
        .stdout_has("(no run record written)")
        .stderr_has("stage `b`: ")
        .stderr_has("stage `c`: ")
        .stderr_has(".json: No space left on device")
        .stderr_has("2 stage(s) failed: b, c");
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("p.lock")).unwrap()).unwrap();
    assert_eq!(lock["stages"]["a"]["status"], "ran", "the lock file, beside the pipeline, is written: {lock}");
    let runs = t.cache_entries("runs");
    assert!(runs.iter().all(|n| !n.starts_with('.')), "a temporary of the record stays: {runs:?}");
    assert!(t.cache_entries("tmp").is_empty(), "leftovers: {:?}", t.cache_entries("tmp"));
    t.run(&["runs"]).success().stdout_has("unfinished");
    disk.free();
    std::fs::remove_file(t.path().join("fill")).unwrap();
    t.run(&["run", "p.yaml", "-j", "1"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "ran"), ("c", "ran")]));
}
