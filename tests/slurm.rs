//! `pipe run --executor slurm` against a real one-node Slurm cluster
//! (`scripts/slurm-cluster.sh start`, which `.ci/run` does). Without one these
//! tests fail and say how to start it.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{by_instance, expect, Ran, Test};

/// a -> t[x=1], t[x=2] -> g (gathers both); every stage appends its name to ran.log.
const SWEEP: &str = r#"
name: sweep
resources: {cpus: 1, time: 10m}
stages:
  a:
    uses: shell
    run: echo a >> ran.log; echo A > $PIPE_OUT/a.txt
  t:
    uses: shell
    needs: [a]
    matrix: {x: [1, 2]}
    run: echo t${matrix.x} >> ran.log; cat $PIPE_INPUT_A/a.txt > $PIPE_OUT/t.txt; echo ${matrix.x} >> $PIPE_OUT/t.txt
  g:
    uses: shell
    gather: [t]
    resources: {mem: 100M}
    run: echo g >> ran.log; for d in $PIPE_INPUT_T; do cat $d/t.txt; done > $PIPE_OUT/g.txt
"#;

/// use reads gen's out gen.txt from the workspace.
const OUTS: &str = r#"
name: outs
params: {v: 1}
resources: {cpus: 1}
stages:
  gen: {uses: shell, run: echo generated > gen.txt, outs: [gen.txt]}
  use: {uses: shell, needs: [gen], deps: [gen.txt], run: 'cat gen.txt > used.txt; echo "${params.v}" >> used.txt', outs: [used.txt]}
"#;

/// a -> b -> c; b fails while `fail` exists, sleeps while `hang` exists (writing sleep.pid).
const FLAKY: &str = include_str!("pipelines/flaky.yaml");

/// Panics with the way to start the cluster unless `sinfo` shows a usable node.
fn cluster() {
    let sinfo = Command::new("sinfo").args(["--noheader", "--format=%t"]).output();
    let states = sinfo.as_ref().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let up = states.lines().any(|s| ["idle", "mix", "alloc"].contains(&s.trim()));
    assert!(
        up,
        "no Slurm cluster to test against (sinfo: {}): start one with `scripts/slurm-cluster.sh start` (as root; \
         apt-get install slurm-wlm munge first)",
        match &sinfo {
            Ok(o) => format!("{:?}{}", states.trim(), String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => e.to_string(),
        }
    );
}

/// A test directory with `yaml` as p.yaml, its pipeline named uniquely (job names carry it).
fn on_cluster(yaml: &str, name: &str) -> Test {
    cluster();
    let first = yaml.trim_start().lines().next().unwrap_or_default();
    Test::new().pipeline(&yaml.replacen(first, &format!("name: {name}-{}", std::process::id()), 1))
}

impl Test {
    fn slurm(&self, args: &[&str]) -> Command {
        let mut command = self.command(&[args, &["--executor", "slurm"]].concat());
        command.env("PIPE_SLURM_POLL", "1");
        command
    }

    fn spawn_slurm(&self, args: &[&str]) -> std::process::Child {
        let mut command = self.slurm(args);
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("pipe starts")
    }

    fn run_slurm(&self, args: &[&str]) -> Ran {
        Ran::from(self.slurm(args).output().expect("pipe runs"))
    }

    /// Slurm's live jobs of this test's pipeline (named `pipe:<pipeline>:<instance>`).
    fn live_jobs(&self) -> Vec<String> {
        let yaml = std::fs::read_to_string(self.path().join("p.yaml")).unwrap();
        let name = yaml.lines().find_map(|l| l.strip_prefix("name: ")).unwrap().to_string();
        let out = Command::new("squeue").args(["--noheader", "--format=%i %j"]).output().expect("squeue");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().filter(|l| l.contains(&format!("pipe:{name}:"))).map(str::to_string).collect()
    }

    fn objects_with(&self, file: &str) -> usize {
        self.cache_entries("objects")
            .iter()
            .filter(|k| self.cache().join("objects").join(k).join(file).exists())
            .count()
    }

    /// Waits until Slurm has none of this test's jobs queued or running.
    fn wait_for_no_jobs(&self, context: &str) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while !self.live_jobs().is_empty() {
            assert!(Instant::now() < deadline, "jobs still queued: {:?}\n{context}", self.live_jobs());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sends `signal` to a child this test started.
    fn signal(child: &std::process::Child, signal: libc::c_int) {
        // SAFETY: sends a signal to a process this test started and has not waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    }

    /// Waits for `file` to appear; the cluster may be busy with the other tests' jobs.
    fn wait_for(&self, file: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while !self.path().join(file).exists() {
            assert!(Instant::now() < deadline, "{what} never happened");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

#[test]
fn a_matrix_chain_with_a_gather_runs_as_jobs_once_per_key_and_matches_a_local_run() {
    let t = on_cluster(SWEEP, "sweep");
    let ran = t.run_slurm(&["run", "p.yaml"]).success().stdout_has("4 ran, 0 cached");
    for instance in ["a", "t[x=1]", "t[x=2]", "g"] {
        assert!(ran.stderr.contains(&format!(" {instance}: submitted")), "{instance} not submitted\n{}", ran.stderr);
    }
    assert!(ran.stderr.contains("COMPLETED"), "{}", ran.stderr);
    assert_eq!(sorted(t.lines("ran.log")), ["a", "g", "t1", "t2"], "each key computed once");
    assert!(t.cache_entries("jobs").iter().all(|e| !e.ends_with(".json")), "finished jobs are forgotten");

    let local = Test::new().pipeline(&std::fs::read_to_string(t.path().join("p.yaml")).unwrap());
    local.run(&["run", "p.yaml"]).success();
    assert_eq!(by_instance(&t.last_record(), "artifact"), by_instance(&local.last_record(), "artifact"));
    assert_eq!(by_instance(&t.last_record(), "key"), by_instance(&local.last_record(), "key"));

    // Nothing stale, nothing submitted; `pipe show` names the job's log.
    t.run_slurm(&["run", "p.yaml"]).success().stdout_has("0 ran, 4 cached");
    let show = t.run(&["show", "p.yaml", "g"]).success();
    let log = show.stdout.lines().find_map(|l| l.trim().strip_prefix("log")).expect("a log line").trim().to_string();
    let text = std::fs::read_to_string(t.path().join(&log)).unwrap();
    assert!(text.contains("pipe job: g of"), "{text}");
    // The job resolves `auto` at the submitter's level, whatever the node's CPU (tests/precision.rs).
    assert!(text.contains(&format!("planned at {}", pipe_stages::simd::level())), "{text}");
}

#[test]
fn gc_keeps_the_logs_of_the_jobs_behind_kept_runs_and_removes_the_rest() {
    let t = on_cluster(SWEEP, "logs");
    t.run_slurm(&["run", "p.yaml"]).success().stdout_has("4 ran");
    assert_eq!(t.cache_entries("logs").len(), 4, "a log per job");
    let yaml = std::fs::read_to_string(t.path().join("p.yaml")).unwrap();
    t.write("p.yaml", &yaml.replace("x: [1, 2]", "x: [1, 3]"));
    t.run_slurm(&["run", "p.yaml"]).success().stdout_has("2 ran, 2 cached");
    // The cached instances' records name the logs of the jobs that computed them in the first run.
    let logs = by_instance(&t.last_record(), "log");
    assert_eq!(logs.len(), 4, "{logs:?}");
    t.run(&["gc", "--keep", "1", "--dry-run"])
        .success()
        .stdout_has("would remove 2 object(s)")
        .stdout_has(" 2 cluster job log(s)");
    assert_eq!(t.cache_entries("logs").len(), 6);
    t.run(&["gc", "--keep", "1"])
        .success()
        .stdout_has("removed 2 object(s)")
        .stdout_has(" 2 cluster job log(s) and 1 run record(s)");
    let kept: Vec<String> = t.cache_entries("logs").into_iter().map(|name| format!("logs/{name}")).collect();
    assert_eq!(kept, sorted(logs.into_values().collect()));
    let show = t.run(&["show", "p.yaml", "a"]).success();
    assert!(show.stdout.lines().any(|l| l.trim().starts_with("log")), "a's log survives\n{}", show.stdout);
}

#[test]
fn a_failing_job_skips_its_dependants_and_the_error_shows_its_log() {
    let t = on_cluster(FLAKY, "fail").file("fail", "");
    let ran = t.run_slurm(&["run", "p.yaml"]).code(1);
    assert!(ran.stderr.contains("disk on fire") && ran.stderr.contains("FAILED"), "{}", ran.stderr);
    // squeue says `CANCELLED (DependencyNeverSatisfied)`; sacct keeps only `Dependency`.
    assert!(ran.stderr.contains(" c: CANCELLED"), "Slurm cancelled c: {}", ran.stderr);
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "failed"), ("c", "skipped")]));
    assert!(t.live_jobs().is_empty(), "{:?}", t.live_jobs());
    std::fs::remove_file(t.path().join("fail")).unwrap();
    t.run_slurm(&["run", "p.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "ran"), ("c", "ran")]));
}

#[test]
fn ctrl_c_cancels_the_runs_jobs_and_records_the_run_as_interrupted() {
    let t = on_cluster(FLAKY, "sigint").file("hang", "");
    let child = t.spawn_slurm(&["run", "p.yaml"]);
    t.wait_for("sleep.pid", "stage b starting");
    assert_eq!(t.live_jobs().len(), 2, "b running, c waiting on it: {:?}", t.live_jobs());
    Test::signal(&child, libc::SIGINT);
    let ran = Ran::from(child.wait_with_output().unwrap()).code(130).stderr_has("interrupted: cancelled slurm job(s)");
    t.wait_for_no_jobs(&ran.stderr);
    assert_eq!(t.objects_with("b"), 0);
    // As a local run: a's completed job is recorded (so gc keeps its artifact), the cancelled ones interrupted.
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "interrupted"), ("c", "interrupted")]));
    assert_eq!(t.last_record()["interrupted"], true);
    assert!(t.path().join("p.lock").exists(), "the lock file is written");
    t.run(&["gc"]).success().stdout_has("removed 0 object(s)");
}

#[test]
fn a_second_signal_right_after_the_first_still_cancels_the_jobs() {
    // 5 ms: as `timeout -s INT` does (the child, then its group), before the run sees the
    // first. 300 ms: the run, which looks every 50 ms, is in `scancel` (slowed down here to
    // a busy controller's pace) when the second comes; the process ends once it is done.
    let scancel =
        String::from_utf8(Command::new("sh").args(["-c", "command -v scancel"]).output().unwrap().stdout).unwrap();
    for gap in [5, 300] {
        let t = on_cluster(FLAKY, &format!("twosignals{gap}"))
            .file("hang", "")
            .file("slow/scancel", &format!("#!/bin/sh\nsleep 1\nexec {} \"$@\"\n", scancel.trim()));
        let slow = t.path().join("slow");
        std::fs::set_permissions(slow.join("scancel"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", slow.display(), std::env::var("PATH").unwrap());
        let child = t
            .slurm(&["run", "p.yaml"])
            .env("PATH", path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("pipe starts");
        t.wait_for("sleep.pid", "stage b starting");
        Test::signal(&child, libc::SIGINT);
        std::thread::sleep(Duration::from_millis(gap));
        Test::signal(&child, libc::SIGINT);
        let ran = Ran::from(child.wait_with_output().unwrap()).code(130);
        assert_eq!(ran.stderr.matches("interrupted: cancelled").count(), 1, "gap {gap} ms:\n{}", ran.stderr);
        let ran = ran.stderr_has("interrupted: cancelled slurm job(s)");
        t.wait_for_no_jobs(&ran.stderr);
    }
}

#[test]
fn stopping_a_run_that_follows_another_runs_jobs_cancels_none_of_them() {
    let t = on_cluster(FLAKY, "follower").file("hang", "");
    t.run_slurm(&["run", "p.yaml", "--detach"]).success();
    let child = t.spawn_slurm(&["run", "p.yaml"]);
    t.wait_for("sleep.pid", "stage b starting");
    Test::signal(&child, libc::SIGTERM);
    let ran = Ran::from(child.wait_with_output().unwrap())
        .code(143)
        .stderr_has("interrupted: cancelled no slurm job; slurm job(s) ")
        .stderr_has("belong to the run that submitted them and go on");
    let live = t.live_jobs();
    assert_eq!(live.len(), 2, "b and c go on: {live:?}\n{}", ran.stderr);
    let ids: Vec<&str> = live.iter().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(Command::new("scancel").args(&ids).status().unwrap().success());
    t.wait_for_no_jobs(&ran.stderr);
}

#[test]
fn detach_then_run_again_submits_no_key_twice() {
    // b takes long enough for the later commands to find its job and c's still queued;
    // a is built first, so their recipes build on a built upstream.
    let t = on_cluster(&FLAKY.replace("echo b >> ran.log", "echo b >> ran.log; sleep 3"), "detach");
    t.run(&["run", "p.yaml", "--stage", "a"]).success();
    let detached = t
        .run_slurm(&["run", "p.yaml", "--detach"])
        .success()
        .stdout_has("JOB")
        .stdout_has("detached: `pipe run p.yaml --executor slurm` follows the jobs");
    let ids = detached.stdout.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_digit())).count();
    assert_eq!(ids, 2, "{}", detached.stdout);
    assert_eq!(t.cache_entries("runs").len(), 1, "a detached run records nothing yet");
    let status = t.run(&["status", "p.yaml"]).success();
    assert_eq!(status.stdout.matches("(slurm job ").count(), 2, "{}", status.stdout);
    t.run(&["run", "p.yaml"]).code(1).stderr_has("Slurm jobs are computing b (job ").stderr_has("--executor slurm");
    t.run(&["gc"]).code(1).stderr_has("slurm job(s) ").stderr_has("retry when they have finished");
    let again = t.run_slurm(&["run", "p.yaml"]).success().stdout_has("2 ran, 1 cached");
    assert!(!again.stderr.contains(": submitted"), "{}", again.stderr);
    assert_eq!(again.stderr.matches(": following it (submitted ").count(), 2, "{}", again.stderr);
    assert_eq!(sorted(t.lines("ran.log")), ["a", "b", "c"]);
}

#[test]
fn a_detach_with_a_failed_submission_fails() {
    let t = on_cluster(&FLAKY.replace("needs: [a]", "needs: [a]\n    resources: {partition: nosuch}"), "badpart");
    let ran = t.run_slurm(&["run", "p.yaml", "--detach"]).code(1).stderr_has("error: stage `b`: `sbatch` failed");
    ran.stdout_has("JOB").stderr_has("1 instance(s) not submitted: b");
    t.wait_for_no_jobs("a's job");
}

#[test]
fn a_stage_reading_an_upstreams_out_is_submitted_after_it_and_cached_outs_come_back() {
    let t = on_cluster(OUTS, "outs");
    let ran = t.run_slurm(&["run", "p.yaml"]).success().stdout_has("2 ran, 0 cached");
    assert!(ran.stderr.contains(" use: submitted after "), "{}", ran.stderr);
    assert_eq!(t.lines("used.txt"), ["generated", "1"]);
    std::fs::remove_file(t.path().join("gen.txt")).unwrap();
    std::fs::remove_file(t.path().join("used.txt")).unwrap();
    t.run_slurm(&["run", "p.yaml"])
        .success()
        .stdout_has("0 ran, 2 cached")
        .stderr_has("restored gen.txt (out of gen)")
        .stderr_has("restored used.txt (out of use)");
    assert_eq!(t.lines("used.txt"), ["generated", "1"]);
    // A cached upstream's out is back before the job that reads it is submitted.
    std::fs::remove_file(t.path().join("gen.txt")).unwrap();
    t.run_slurm(&["run", "p.yaml", "--set", "params.v=2"])
        .success()
        .stdout_has("1 ran, 1 cached")
        .stderr_has("restored gen.txt (out of gen)");
    assert_eq!(t.lines("used.txt"), ["generated", "2"]);
}

#[test]
fn finished_detached_jobs_keep_their_artifacts_through_gc_and_the_follow_up_restores_outs() {
    let t = on_cluster(OUTS, "detachgc");
    t.run_slurm(&["run", "p.yaml", "--detach"]).success();
    t.wait_for_no_jobs("the detached jobs");
    t.run(&["gc"]).success().stdout_has("removed 0 object(s)");
    std::fs::remove_file(t.path().join("used.txt")).unwrap();
    let again = t
        .run_slurm(&["run", "p.yaml"])
        .success()
        .stdout_has("0 ran, 2 cached")
        .stderr_has("restored used.txt (out of use)");
    assert!(!again.stderr.contains(": submitted"), "{}", again.stderr);
}

#[test]
fn a_jobs_log_holds_all_its_commands_output() {
    let yaml = "name: chatty\nstages:\n  talk:\n    uses: shell\n    run: for i in 1 2 3 4 5; do echo line-$i; echo err-$i >&2; sleep 0.2; done\n";
    let t = on_cluster(yaml, "chatty");
    t.run_slurm(&["run", "p.yaml"]).success().stdout_has("1 ran");
    let log = by_instance(&t.last_record(), "log")["talk"].clone();
    let text = std::fs::read_to_string(t.path().join("cache").join(log)).unwrap();
    for i in 1..=5 {
        assert!(text.contains(&format!("line-{i}\n")) && text.contains(&format!("err-{i}\n")), "{i}: {text}");
    }
}

#[test]
fn two_runs_at_once_submit_each_instance_once() {
    // a's 2 s keep every job queued while the second run looks.
    let t = on_cluster(&FLAKY.replace("echo a >> ran.log;", "echo a >> ran.log; sleep 2;"), "twice");
    let (one, two) = (t.spawn_slurm(&["run", "p.yaml"]), t.spawn_slurm(&["run", "p.yaml"]));
    let one = Ran::from(one.wait_with_output().unwrap()).success();
    let two = Ran::from(two.wait_with_output().unwrap()).success();
    let submitted = one.stderr.matches(": submitted").count() + two.stderr.matches(": submitted").count();
    let followed = one.stderr.matches(": following it").count() + two.stderr.matches(": following it").count();
    assert_eq!((submitted, followed), (3, 3), "one run submits, the other follows\n{}\n{}", one.stderr, two.stderr);
    assert_eq!(sorted(t.lines("ran.log")), ["a", "b", "c"]);
}

#[test]
fn a_job_cancelled_mid_stage_leaves_no_object_and_the_next_run_completes() {
    let t = on_cluster(FLAKY, "scancel").file("hang", "");
    let child = t.spawn_slurm(&["run", "p.yaml"]);
    t.wait_for("sleep.pid", "stage b starting");
    let b = t.live_jobs().into_iter().find(|l| l.ends_with(":b")).expect("b's job");
    let id = b.split_whitespace().next().unwrap();
    assert!(Command::new("scancel").arg(id).status().unwrap().success());
    let ran = Ran::from(child.wait_with_output().unwrap()).code(1).stderr_has("CANCELLED");
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "failed"), ("c", "skipped")]), "{}", ran.stderr);
    assert_eq!(t.objects_with("b"), 0, "no artifact for the cancelled stage");
    std::fs::remove_file(t.path().join("hang")).unwrap();
    t.run_slurm(&["run", "p.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "ran"), ("c", "ran")]));
    let c = t.cache().join("objects").join(&by_instance(&t.last_record(), "key")["c"]).join("c");
    assert_eq!(std::fs::read_to_string(c).unwrap(), "partial\nB\n");
}

#[test]
fn the_tiny_study_through_slurm_gives_the_local_artifact_hashes() {
    cluster();
    let hub = pipe_stages::testkit::use_offline_hub();
    let tiny = include_str!("pipelines/tiny.yaml");
    let cluster_run = Test::new().pipeline(tiny);
    Ran::from(cluster_run.slurm(&["run", "p.yaml"]).env("HF_HOME", &hub).output().unwrap())
        .success()
        .stdout_has("9 ran");
    let local = Test::new().pipeline(tiny);
    local.run_hub(&["run", "p.yaml"]).success();
    assert_eq!(by_instance(&cluster_run.last_record(), "artifact"), by_instance(&local.last_record(), "artifact"));
}

#[test]
fn bad_resources_are_config_errors_with_file_and_line() {
    let t = Test::new().pipeline("name: r\nstages:\n  a:\n    uses: shell\n    run: 'true'\n    resources: {cpu: 2}\n");
    t.run(&["run", "p.yaml"]).code(2).stderr_has("p.yaml:6: stage `a`").stderr_has("did you mean `cpus`?");
    t.write("p.yaml", "name: r\nresources:\n  time: soon\nstages:\n  a: {uses: shell, run: 'true'}\n");
    t.run(&["run", "p.yaml"]).code(2).stderr_has("p.yaml:3").stderr_has("a time limit such as 2h");
    t.write("p.yaml", "name: r\nexecutor: slurn\nstages:\n  a: {uses: shell, run: 'true'}\n");
    t.run(&["run", "p.yaml"]).code(2).stderr_has("p.yaml:2").stderr_has("slurm");
    t.write("p.yaml", "name: r\nstages:\n  a: {uses: shell, run: 'true'}\n");
    t.run(&["run", "p.yaml", "--resource", "mem=lots"]).code(2).stderr_has("--resource").stderr_has("16G");
    t.run(&["run", "p.yaml", "--detach"]).code(2).stderr_has("--detach needs a cluster executor");
}
