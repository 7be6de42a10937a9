//! The `shell` stage's command as a process: what it leaves behind when it fails or is
//! stopped, the signals it starts with, what it leaves running, how much of its output
//! pipe keeps, and the environment it gets.

mod support;

use std::time::{Duration, Instant};

use support::{expect, Test};

/// Waits (up to a minute) until `rel` in the test directory holds `text`.
fn wait_for(t: &Test, rel: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(t.path().join(rel)).is_ok_and(|s| s.contains(text)) {
        assert!(Instant::now() < deadline, "{rel} never held {text:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const PARTIAL: &str = "name: p\nparams: {n: 0}\nstages:\n  a: {uses: shell, run: 'echo partial-${params.n} > a.txt; sleep ${params.n}; echo done >> a.txt', outs: [a.txt]}\n  b: {uses: shell, needs: [a], run: 'cat a.txt > b.txt', deps: [a.txt], outs: [b.txt]}\n";

#[test]
fn an_interrupted_command_leaves_no_partial_out_to_be_taken_for_an_edit() {
    let t = Test::new().pipeline(PARTIAL);
    t.run(&["run", "p.yaml"]).success();
    let child = t.spawn(&["run", "p.yaml", "--set", "params.n=30"]);
    wait_for(&t, "a.txt", "partial-30");
    // SAFETY: sends a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    support::Ran::from(child.wait_with_output().unwrap())
        .code(130)
        .stderr_has("stage `a`: interrupted; removed its partial outs: a.txt");
    assert!(!t.path().join("a.txt").exists(), "the partial out stays");
    t.run(&["run", "p.yaml"]).success().stderr_has("restored a.txt (out of a)");
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "cached")]));
    assert_eq!(t.lines("b.txt"), ["partial-0", "done"]);
}

#[test]
fn a_failed_command_has_its_partial_outs_removed_and_says_so() {
    let t = Test::new().pipeline(
        "name: f\nstages:\n  a: {uses: shell, run: 'echo x > a.txt; echo x > kept.txt; echo oops >&2; exit 3', outs: [a.txt, kept.txt], with: {persist: [kept.txt]}}\n",
    );
    t.run(&["run", "p.yaml"])
        .code(1)
        .stderr_has("the command failed with exit code 3; removed its partial outs: a.txt; stderr:\noops");
    assert!(!t.path().join("a.txt").exists(), "the partial out stays");
    assert!(t.path().join("kept.txt").exists(), "a persisted out is the command's to update, never removed");
}

#[test]
fn a_background_job_starts_with_sigint_and_sigterm_deliverable() {
    let t = Test::new().pipeline(
        "name: s\nstages:\n  a: {uses: shell, run: 'sleep 20 & P=$!; sleep 0.2; kill $P; wait $P; echo \"wait rc=$?\" > a.txt; grep \"^SigBlk\" /proc/self/status >> a.txt', outs: [a.txt]}\n",
    );
    let started = Instant::now();
    t.run(&["run", "p.yaml"]).success();
    assert!(started.elapsed() < Duration::from_secs(15), "the job ignored SIGTERM");
    let lines = t.lines("a.txt");
    assert_eq!(lines[0], "wait rc=143", "{lines:?}");
    assert_eq!(lines[1], "SigBlk:\t0000000000000000", "{lines:?}");
}

/// Kills the `setsid` daemon a test's command started (it left its pid in `daemon.pid`).
fn kill_daemon(t: &Test) {
    let pid: i32 = t.lines("daemon.pid")[0].parse().unwrap();
    // SAFETY: signals the daemon this test's command started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Starts the daemon and waits until it has left the command's process group.
const DAEMON: &str =
    "setsid sh -c \"echo \\$\\$ > daemon.pid; exec sleep 600\" & while [ ! -s daemon.pid ]; do sleep 0.05; done;";

#[test]
fn a_setsid_daemon_does_not_hold_the_stage_open() {
    let t = Test::new().pipeline(&format!(
        "name: d\nstages:\n  a: {{uses: shell, run: '{DAEMON} echo started > a.txt; echo to-stdout', outs: [a.txt]}}\n"
    ));
    let started = Instant::now();
    let ran = t.run(&["run", "p.yaml"]);
    wait_for(&t, "daemon.pid", "");
    kill_daemon(&t);
    ran.success().stderr_has("a process its command started still holds the command's output open");
    assert!(started.elapsed() < Duration::from_secs(30), "the stage waited for the daemon");
    assert_eq!(t.statuses(), expect(&[("a", "ran")]));
}

#[test]
fn a_stage_with_a_setsid_daemon_is_still_recorded_as_interrupted() {
    let t = Test::new()
        .pipeline(&format!("name: d\nstages:\n  a: {{uses: shell, run: '{DAEMON} touch started; sleep 60'}}\n"));
    let child = t.spawn(&["run", "p.yaml"]);
    wait_for(&t, "started", "");
    wait_for(&t, "daemon.pid", "");
    // SAFETY: sends a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let ran = support::Ran::from(child.wait_with_output().unwrap());
    kill_daemon(&t);
    ran.code(130);
    assert_eq!(t.statuses(), expect(&[("a", "interrupted")]));
}

#[test]
fn progress_bars_and_huge_lines_are_kept_in_bounded_memory() {
    // 300,000 redraws of a bar with no newline, then a 1 MB line, then a failure.
    let t = Test::new().pipeline(
        "name: b\nstages:\n  a: {uses: shell, run: 'seq 300000 | tr \"\\n\" \"\\r\" >&2; echo >&2; head -c 1000000 /dev/zero | tr \"\\0\" x >&2; echo >&2; exit 1'}\n",
    );
    let ran = t.run(&["run", "p.yaml"]).code(1).stderr_has(" more bytes]");
    assert!(ran.stderr.len() < 200_000, "{} bytes of stderr", ran.stderr.len());
    let record = std::fs::read_dir(t.cache().join("runs")).unwrap().flatten().map(|e| e.metadata().unwrap().len());
    assert!(record.max().unwrap() < 100_000, "a run record this large holds the whole output");
}

#[test]
fn an_out_the_command_left_unreadable_is_named_in_the_workspace() {
    let t = Test::new()
        .pipeline("name: u\nstages:\n  a: {uses: shell, run: 'echo x > a.txt; chmod 000 a.txt', outs: [a.txt]}\n");
    let ran = t.run_unprivileged(&["run", "p.yaml"]).code(1);
    let line = ran.stderr.lines().find(|l| l.contains("Permission denied")).unwrap_or_default().to_string();
    assert!(line.contains(&format!("{}/a.txt", t.path().display())) && !line.contains("cache/tmp"), "{}", ran.stderr);
}

#[test]
fn an_out_directory_left_read_only_is_replaced_on_the_next_run() {
    let t = Test::new().pipeline(
        "name: u\nparams: {n: 1}\nstages:\n  a: {uses: shell, run: 'mkdir -p ro && echo ${params.n} > ro/f && chmod 555 ro', outs: [ro]}\n",
    );
    t.run_unprivileged(&["run", "p.yaml"]).code(0);
    t.run_unprivileged(&["run", "p.yaml", "--set", "params.n=2"]).code(0);
    assert_eq!(std::fs::read_to_string(t.path().join("ro/f")).unwrap(), "2\n");
}

#[test]
fn the_watcher_that_ends_a_commands_processes_is_there_before_the_command_starts() {
    // A SIGKILLed pipe leaves the ending of what its command started to a watcher; one
    // started after the command left a moment in which a kill orphaned them. The command
    // now joins the process group its watcher leads, so the watcher is there from its start.
    let t = Test::new().pipeline(
        "name: w\nstages:\n  a:\n    uses: shell\n    run: g=$(ps -o pgid= -p $$ | tr -d ' '); echo $$ $g > a.txt; tr '\\0' ' ' < /proc/$g/cmdline >> a.txt\n    outs: [a.txt]\n",
    );
    t.run(&["run", "p.yaml"]).success();
    let text = std::fs::read_to_string(t.path().join("a.txt")).unwrap();
    let ids: Vec<&str> = text.split_whitespace().take(2).collect();
    assert_ne!(ids[0], ids[1], "the command leads its own group: {text}");
    assert!(text.contains("pipe-group-guard"), "the group's leader is not the watcher: {text}");
}

#[test]
fn outs_of_a_command_that_succeeded_stay_when_the_store_has_no_room_for_them() {
    let t = Test::new();
    let _disk = t.small_disk("cache", 1 << 20);
    t.write("p.yaml", "name: f\nstages:\n  a: {uses: shell, run: 'head -c 2000000 /dev/zero > big.bin; echo x > small.txt', outs: [big.bin, small.txt]}\n");
    t.run(&["run", "p.yaml"])
        .code(1)
        .stderr_has("big.bin: No space left on device")
        .stderr_has("the command succeeded: its outs stay in the workspace: big.bin, small.txt");
    assert_eq!(std::fs::metadata(t.path().join("big.bin")).unwrap().len(), 2_000_000, "a whole out was removed");
    assert!(t.cache_entries("objects").is_empty() && t.cache_entries("tmp").is_empty());
    t.run(&["status", "p.yaml"]).success().stdout_has("1 of 1 stage instance(s) stale");
}
