//! Black-box tests of two processes writing one workspace out: runs of different keys
//! and a checkout wait for each other on the out's lock, so no artifact captures an out
//! that another process wrote.

mod support;

use std::time::{Duration, Instant};

use support::Test;

/// `a` writes its param `n` into a.txt, then sleeps `d` seconds before pipe captures it.
const RACE: &str = r#"
name: race
params: {n: 1, d: 0}
stages:
  a: {uses: shell, run: 'echo n=${params.n} > a.txt; sleep ${params.d}', outs: [a.txt]}
"#;

/// Waits until the workspace's a.txt holds `text` (the spawned run's command has written it).
fn wait_for(t: &Test, text: &str) {
    let started = Instant::now();
    while std::fs::read_to_string(t.path().join("a.txt")).ok().as_deref() != Some(text) {
        assert!(started.elapsed() < Duration::from_secs(20), "a.txt never held {text:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every object's a.txt holds the `n` its own command was run with.
fn objects_hold_their_own_outs(t: &Test) -> usize {
    let objects = t.cache_entries("objects");
    for key in &objects {
        let dir = t.cache().join("objects").join(key);
        let params = std::fs::read_to_string(dir.join("params.json")).unwrap();
        let out = std::fs::read_to_string(dir.join("a.txt")).unwrap();
        assert!(params.contains(&format!("echo {}", out.trim())), "object {key} of {params} holds {out:?}");
    }
    objects.len()
}

#[test]
fn a_second_run_waits_for_the_out_the_first_is_writing() {
    let t = Test::new().pipeline(RACE);
    let first = t.spawn(&["run", "p.yaml", "--set", "params.d=3"]);
    wait_for(&t, "n=1\n");
    t.run(&["run", "p.yaml", "--set", "params.n=2"])
        .success()
        .stderr_has("waiting for a: its out `a.txt` is in use by pipe process")
        .stderr_has(" (stage `a` of p.yaml), which writes it\n");
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(objects_hold_their_own_outs(&t), 2);
}

#[test]
fn a_stage_reading_an_upstream_out_holds_it_against_another_runs_write() {
    let yaml = "name: reader\nparams: {n: 1, d: 0}\nstages:\n  a: {uses: shell, run: 'echo n=${params.n} > a.txt', \
                outs: [a.txt]}\n  b: {uses: shell, needs: [a], deps: [a.txt], run: 'echo started > b.started; sleep \
                ${params.d}; cp a.txt b.txt', outs: [b.txt]}\n";
    let t = Test::new().pipeline(yaml);
    let first = t.spawn(&["run", "p.yaml", "--set", "params.d=3"]);
    let started = Instant::now();
    while !t.path().join("b.started").exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "b never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Held to be read, a.txt is no write in progress: status judges an edit as an edit.
    t.write("a.txt", "edited\n");
    t.run(&["status", "p.yaml", "--set", "params.d=3"]).success().stdout_has("`a.txt` was changed by hand");
    t.write("a.txt", "n=1\n");
    // The second run's `a` would rewrite a.txt under the first run's `b`, which reads it.
    t.run(&["run", "p.yaml", "--set", "params.n=2"])
        .success()
        .stderr_has("waiting for a: its out `a.txt` is in use by pipe process")
        .stderr_has(" (stage `b` of p.yaml), which reads it\n");
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    // Every b artifact holds what its key says: the first run's, n=1.
    t.run(&["run", "p.yaml", "--set", "params.d=3"]).success().stdout_has("0 ran, 2 cached");
    assert_eq!(t.lines("b.txt"), ["n=1"]);
}

#[test]
fn stages_reading_one_upstream_out_run_at_once_and_an_always_changed_reader_every_time() {
    // Each reader waits up to 5 s for the other to start: run one after the other, the first fails.
    let reader = |me: &str, other: &str| {
        format!(
            "  {me}: {{uses: shell, needs: [a], deps: [a.txt], outs: [{me}.txt], run: 'touch {me}.on; for i in $(seq \
             50); do [ -e {other}.on ] && break; sleep 0.1; done; [ -e {other}.on ] && cat a.txt > {me}.txt'}}\n"
        )
    };
    let yaml = format!(
        "name: readers\nstages:\n  a: {{uses: shell, run: 'echo a > a.txt', outs: [a.txt]}}\n{}{}  c: {{uses: \
         shell, needs: [a], deps: [a.txt], run: 'cat a.txt >> c.log', with: {{always_changed: true}}}}\n",
        reader("b1", "b2"),
        reader("b2", "b1")
    );
    let t = Test::new().pipeline(&yaml);
    t.run(&["run", "p.yaml", "-j", "4"]).success().stdout_has("4 ran, 0 cached");
    t.run(&["run", "p.yaml", "-j", "4"]).success().stdout_has("1 ran, 3 cached");
    assert_eq!(t.lines("c.log"), ["a", "a"]);
}

#[test]
fn checkout_waits_for_a_run_writing_the_out() {
    let t = Test::new().pipeline(RACE);
    t.run(&["run", "p.yaml"]).success();
    let run = t.spawn(&["run", "p.yaml", "--set", "params.n=2", "--set", "params.d=3"]);
    wait_for(&t, "n=2\n");
    // A run in progress is not an edit by hand.
    t.run(&["status", "p.yaml"]).success().stdout_has("`a.txt` is being written by pipe process");
    t.run(&["checkout", "p.yaml", "--force"]).success().stderr_has("waiting to put back `a.txt` (out of a)");
    assert!(run.wait_with_output().unwrap().status.success());
    assert_eq!(objects_hold_their_own_outs(&t), 2);
    assert_eq!(std::fs::read_to_string(t.path().join("a.txt")).unwrap(), "n=1\n", "checkout came last");
}

#[test]
fn a_run_says_it_waits_for_gc() {
    let t = Test::new().pipeline(RACE);
    t.run(&["run", "p.yaml"]).success();
    // gc holds the cache's lock exclusively (flock, as `pipe gc` takes it) for a second.
    let mut gc = std::process::Command::new("flock")
        .arg(t.cache().join("gc.lock"))
        .args(["sleep", "1.5"])
        .spawn()
        .expect("flock(1) from util-linux");
    std::thread::sleep(Duration::from_millis(300));
    t.run(&["run", "p.yaml"]).success().stderr_has("waiting for `pipe gc` to finish with");
    gc.wait().unwrap();
}
