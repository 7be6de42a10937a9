//! Black-box tests of `pipe run`, `status`, `diff`, `dag`, `show` on shell pipelines.

mod support;

use support::{expect, Test};

/// a -> b -> c, and d beside c; every stage appends its name to ran.log (outside the artifacts).
const CHAIN: &str = r#"
name: chain
seed: 7
params:
  k: 1
stages:
  a:
    uses: shell
    run: echo a >> ran.log; echo A > $PIPE_OUT/a.txt
  b:
    uses: shell
    needs: [a]
    run: echo b >> ran.log; cat $PIPE_INPUT_A/a.txt > $PIPE_OUT/b.txt; echo ${params.k} >> $PIPE_OUT/b.txt
  c:
    uses: shell
    needs: [b]
    run: echo c >> ran.log; cat $PIPE_INPUT_B/b.txt > $PIPE_OUT/c.txt
  d:
    uses: shell
    needs: [a]
    run: echo d >> ran.log; echo D > $PIPE_OUT/d.txt
"#;

#[test]
fn second_run_is_all_cached_and_does_no_work() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml"]).success().stdout_has("4 ran, 0 cached");
    let mut ran = t.lines("ran.log");
    ran.sort();
    assert_eq!(ran, ["a", "b", "c", "d"]);
    t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 4 cached");
    assert_eq!(t.lines("ran.log").len(), 4, "nothing ran again");
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "cached"), ("c", "cached"), ("d", "cached")]));
    let lock = std::fs::read_to_string(t.path().join("p.lock")).unwrap();
    assert!(lock.contains("\"c\"") && lock.contains("\"artifact\""), "{lock}");
}

#[test]
fn a_param_change_reruns_exactly_that_stage_and_its_downstream() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml"]).success();
    t.write("p.yaml", &CHAIN.replace("k: 1", "k: 2"));
    t.run(&["run", "p.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "ran"), ("c", "ran"), ("d", "cached")]));
    // --set overrides without editing the file; going back to k=1 finds everything cached.
    t.run(&["run", "p.yaml", "--set", "params.k=1"]).success().stdout_has("0 ran, 4 cached");
}

#[test]
fn stage_selects_that_stage_and_its_stale_upstream_only() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml"]).success();
    let edited = CHAIN.replace("k: 1", "k: 3").replace("echo D", "echo DD");
    t.write("p.yaml", &edited);
    t.run(&["run", "p.yaml", "--stage", "b"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "ran")]));
    t.run(&["run", "p.yaml", "--stage", "b", "--downstream"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "cached"), ("c", "ran")]));
    t.run(&["run", "p.yaml", "--stage", "bb"]).code(2).stderr_has("did you mean `b`?");
    // Without --stage everything runs already: --downstream alone is a mistake, not a no-op.
    t.run(&["run", "p.yaml", "--downstream"])
        .code(2)
        .stderr_has("required arguments were not provided")
        .stderr_has("--stage");
}

#[test]
fn force_recomputes_the_selected_stages_only() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml"]).success();
    t.run(&["run", "p.yaml", "--stage", "b", "--force"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "ran")]));
    assert_eq!(t.lines("ran.log").iter().filter(|l| *l == "b").count(), 2);
    t.run(&["run", "p.yaml", "--force"]).success().stdout_has("4 ran, 0 cached");
    // Recomputing gives the same bytes, so the artifact hashes stay put.
    let before = t.last_record();
    t.run(&["run", "p.yaml", "--force"]).success();
    let after = t.last_record();
    for i in 0..4 {
        assert_eq!(before["stages"][i]["artifact"], after["stages"][i]["artifact"]);
    }
}

#[test]
fn config_errors_exit_2_with_a_clear_message_and_leave_the_cache_untouched() {
    let cases: [(&str, &str, &str); 9] = [
        (
            "cycle",
            "name: x\nstages:\n  a: {uses: shell, run: 'true', needs: [c]}\n  b: {uses: shell, run: 'true', needs: [a]}\n  c: {uses: shell, run: 'true', needs: [b]}\n",
            "cycle in `needs`: `",
        ),
        (
            "unknown needs",
            "name: x\nstages:\n  prep: {uses: shell, run: 'true'}\n  b:\n    uses: shell\n    run: 'true'\n    needs: [perp]\n",
            "p.yaml:7: stage `b`: `needs`: unknown stage `perp` (did you mean `prep`?)",
        ),
        (
            "unknown key",
            "name: x\nstages:\n  a:\n    uses: shell\n    run: 'true'\n    neds: [b]\n",
            "p.yaml:6: stage `a`: unknown key `neds` (did you mean `needs`?)",
        ),
        ("type error", "name: x\nstages:\n  a:\n    uses: shell\n    run: 'true'\n    seed: lots\n", "p.yaml:6: stage `a`: invalid type: string \"lots\""),
        (
            "param type error",
            "name: x\nstages:\n  a:\n    uses: shell\n    run: 'true'\n    outs: 5\n",
            "p.yaml:6: stage `a`: invalid params (shell): `outs`: invalid type: integer `5`, expected a sequence",
        ),
        (
            "param value error",
            "name: x\nstages:\n  t:\n    uses: train\n    with:\n      precision: fp16\n",
            "p.yaml:6: stage `t`: invalid params (train): `precision`: unknown variant `fp16`, expected one of `auto`, `fp32`, `bf16`",
        ),
        (
            "duplicate key",
            "name: x\nstages:\n  a:\n    uses: shell\n    run: 'true'\n    matrix: {n: [1, 2], n: [3]}\n",
            "p.yaml:6: stage `a`: duplicate entry with key \"n\"",
        ),
        (
            "stage defined twice",
            "name: x\nstages:\n  a:\n    uses: shell\n    run: 'true'\n  b: {uses: shell, run: 'true'}\n  a: {uses: shell, run: 'false'}\n",
            "p.yaml:7: `stages`: duplicate key `a` (first at line 3)",
        ),
        (
            "two upstreams, one variable",
            "name: x\nstages:\n  a-b: {uses: shell, run: 'true'}\n  a_b: {uses: shell, run: 'true'}\n  c: {uses: shell, run: 'true', needs: [a-b, a_b]}\n",
            "p.yaml:5: stage `c`: `needs`: upstreams `a-b` and `a_b` would both be $PIPE_INPUT_A_B",
        ),
    ];
    for (what, yaml, message) in cases {
        let t = Test::new().pipeline(yaml);
        let ran = t.run(&["run", "p.yaml"]);
        assert_eq!(ran.code, 2, "{what}: {}", ran.stderr);
        assert!(ran.stderr.contains(message), "{what}: expected {message:?} in\n{}", ran.stderr);
        assert!(!t.cache().exists(), "{what}: the cache was touched");
    }
}

#[test]
fn a_matrix_of_2x2_makes_4_instances_and_a_gathering_stage_sees_all_of_them() {
    let t = Test::new().pipeline(
        r#"
name: sweep
stages:
  prep: {uses: shell, run: echo prep >> ran.log; echo 10 > $PIPE_OUT/base}
  train:
    uses: shell
    needs: [prep]
    matrix: {lr: [1, 2], pooling: [cls, mean]}
    run: echo ${matrix.lr}-${matrix.pooling} >> ran.log; echo "$(cat $PIPE_INPUT_PREP/base) ${matrix.lr} ${matrix.pooling}" > $PIPE_OUT/v.txt
  evaluate: {uses: shell, needs: [train], run: 'cat $PIPE_INPUT_TRAIN/v.txt > $PIPE_OUT/score.txt'}
  ablate:
    uses: shell
    gather: [evaluate]
    run: for d in $PIPE_INPUT_EVALUATE; do cat $d/score.txt; done | sort > $PIPE_OUT/all.txt
"#,
    );
    t.run(&["run", "p.yaml"]).success().stdout_has("10 ran");
    let instances: Vec<String> = t.statuses().into_keys().collect();
    for name in ["train[lr=1,pooling=cls]", "train[lr=2,pooling=mean]", "evaluate[lr=1,pooling=mean]", "ablate"] {
        assert!(instances.contains(&name.to_string()), "{name} missing from {instances:?}");
    }
    let ablate = t.run(&["show", "p.yaml", "ablate"]).success();
    let dir = ablate.stdout.lines().find_map(|l| l.trim().strip_prefix("dir")).unwrap().trim().to_string();
    let all = std::fs::read_to_string(t.path().join(dir).join("all.txt")).unwrap();
    assert_eq!(all, "10 1 cls\n10 1 mean\n10 2 cls\n10 2 mean\n");
    assert_eq!(t.lines("ran.log").iter().filter(|l| *l == "prep").count(), 1, "the shared upstream ran once");
    // --stage with some of the values: every instance with them, and downstream ones inherit them.
    let run = t.run(&["run", "p.yaml", "--force", "--stage", "train[pooling=mean]", "--stage", "evaluate[lr=2]"]);
    run.success().stdout_has("4 ran");
    let mut forced = t.lines("ran.log").split_off(5);
    forced.sort();
    assert_eq!(forced, ["1-mean", "2-mean"], "independent instances run at once, in either order");
    let ran = |s: &str| t.statuses().into_iter().filter(|(_, v)| v == "ran").any(|(k, _)| k == s);
    assert!(
        ran("evaluate[lr=2,pooling=cls]") && ran("evaluate[lr=2,pooling=mean]") && !ran("evaluate[lr=1,pooling=cls]")
    );
    t.run(&["run", "p.yaml", "--stage", "train[pooling=max]"])
        .code(2)
        .stderr_has("--stage train[pooling=max]: no instance of `train` in p.yaml has these values; its instances: ");
}

#[test]
fn identical_instances_are_computed_once() {
    let t = Test::new().pipeline(
        "name: same\nstages:\n  s:\n    uses: shell\n    matrix: {unused: [1, 2, 3]}\n    run: echo s >> ran.log; echo x > $PIPE_OUT/x\n",
    );
    t.run(&["run", "p.yaml"]).success();
    assert_eq!(t.lines("ran.log"), ["s"]);
    assert_eq!(t.cache_entries("objects").len(), 1);
}

#[test]
fn a_wait_for_an_identical_instance_of_the_same_run_names_it() {
    let yaml = "name: t\nstages:\n  b: {uses: shell, matrix: {x: [1, 2]}, run: \"echo s > $PIPE_OUT/b\"}\n";
    let t = Test::new().pipeline(yaml);
    // Under --force both instances go for the key's lock; a wait is never for another process.
    for _ in 0..10 {
        let run = t.run(&["run", "p.yaml", "--force", "-j", "2"]).success();
        assert!(!run.stderr.contains("another pipe process"), "{}", run.stderr);
    }
    // A slow command has the other instance wait for it, for sure.
    t.write("p.yaml", &yaml.replace("echo s", "sleep 0.5; echo s"));
    t.run(&["run", "p.yaml", "-j", "2"]).success().stderr_has(": same key as b[x=").stderr_has("], computed once");
}

#[test]
fn diff_reports_exactly_the_changed_stage_after_a_param_change() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml"]).success();
    t.write("p.yaml", &CHAIN.replace("echo D >", "echo E >"));
    t.run(&["run", "p.yaml"]).success();
    let json = t.run(&["diff", "--json"]).success();
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let changed = report["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{report:#}");
    assert_eq!(changed[0]["instance"], "d");
    assert_eq!(changed[0]["params"]["run"][1], "echo d >> ran.log; echo E > $PIPE_OUT/d.txt");
    assert_eq!(report["unchanged"], 3);
    t.run(&["diff"]).success().stdout_has("changed d\n").stdout_has("1 changed, 3 unchanged");
    // A --stage run records its selection only: the rest is not "removed".
    t.write("p.yaml", &CHAIN.replace("echo D >", "echo F >"));
    t.run(&["run", "p.yaml", "--stage", "d"]).success();
    let diff =
        t.run(&["diff"]).success().stdout_has("changed d\n").stdout_has("not compared (outside a --stage run): ");
    assert!(!diff.stdout.contains("removed"), "{}", diff.stdout);
}

#[test]
fn diff_says_which_dep_upstream_and_seed_changed_a_key() {
    let yaml = "name: p\nstages:\n  a: {uses: shell, run: 'cat in.txt > a.txt', deps: [in.txt], outs: [a.txt]}\n  b: {uses: shell, needs: [a], run: 'wc -c < a.txt > b.txt', deps: [a.txt], outs: [b.txt]}\n";
    let t = Test::new().pipeline(yaml).file("in.txt", "1\n");
    t.run(&["run", "p.yaml"]).success();
    t.write("in.txt", "22\n");
    t.run(&["run", "p.yaml"]).success();
    let diff = t.run(&["diff"]).success().stdout_has("changed a\n").stdout_has("    why       `deps.in.txt` changed\n");
    let b = &diff.stdout[diff.stdout.find("changed b\n").expect("b changed")..];
    assert!(b.contains("    why       `deps.a.txt` changed\n    why       upstream `a` changed: artifact "), "{b}");
    t.write("p.yaml", &yaml.replace("name: p\n", "name: p\nseed: 7\n"));
    t.run(&["run", "p.yaml"]).success();
    let report: serde_json::Value = serde_json::from_str(&t.run(&["diff", "--json"]).success().stdout).unwrap();
    assert_eq!(report["changed"][0]["why"], serde_json::json!(["seed: 0 -> 7"]), "{report:#}");
}

#[test]
fn an_escaped_reference_reaches_the_command_as_literal_text() {
    let t = Test::new().pipeline(
        "name: e\nparams: {x: 1, lit: '\\${params.x}'}\nstages:\n  a:\n    uses: shell\n    run: echo '\\${params.x} ${params.x} ${params.lit}' > a.txt\n    outs: [a.txt]\n",
    );
    t.run(&["run", "p.yaml"]).success();
    assert_eq!(t.lines("a.txt"), ["${params.x} 1 ${params.x}"]);
}

#[test]
fn diff_shows_metric_deltas() {
    let yaml = "name: m\nparams: {acc: 0.16074758244362342}\nstages:\n  e: {uses: shell, run: 'echo \"{\\\"acc\\\": ${params.acc}}\" > $PIPE_METRICS'}\n";
    let t = Test::new().pipeline(yaml);
    t.run(&["run", "p.yaml"]).success().stdout_has("acc=0.1607\n");
    t.run(&["run", "p.yaml", "--set", "params.acc=0.13790342486500895"]).success();
    // 4 significant digits, as a metric with an interval and as `pipe show`; --json keeps every digit.
    t.run(&["diff"]).success().stdout_has("metric    acc: 0.1607 -> 0.1379 (-0.02284)\n");
    let report: serde_json::Value = serde_json::from_str(&t.run(&["diff", "--json"]).success().stdout).unwrap();
    assert_eq!(report["changed"][0]["metrics"]["acc"]["old"], serde_json::json!(0.16074758244362342));
}

#[test]
fn diff_shows_integer_deltas_as_integers_an_emptied_mapping_by_its_keys_and_refuses_an_empty_run_id() {
    let yaml = "name: m\nparams: {n: 8}\nstages:\n  e:\n    uses: shell\n    run: 'echo \"{\\\"steps\\\": ${params.n}}\" > $PIPE_METRICS'\n    with: {params: {reference: {pooling: max}}}\n";
    let t = Test::new().pipeline(yaml);
    t.run(&["run", "p.yaml"]).success().stdout_has("steps=8");
    t.write("p.yaml", &yaml.replace("pooling: max", ""));
    t.run(&["run", "p.yaml", "--set", "params.n=1"]).success();
    let diff = t.run(&["diff"]).success().stdout_has("metric    steps: 8 -> 1 (-7)\n");
    let params: Vec<&str> = diff.stdout.lines().filter(|l| l.contains("param ") && !l.contains("run:")).collect();
    assert_eq!(params, ["    param     params.reference.pooling: \"max\" -> null"]);
    let report: serde_json::Value = serde_json::from_str(&t.run(&["diff", "--json"]).success().stdout).unwrap();
    assert_eq!(report["changed"][0]["metrics"]["steps"]["delta"], serde_json::json!(-7));
    t.run(&["diff", "latest", ""]).code(2).stderr_has("a run id is empty");
}

#[test]
fn the_summary_line_counts_interrupted_stages() {
    let t = Test::new().pipeline(
        "name: t\nstages:\n  a: {uses: shell, run: echo A > $PIPE_OUT/a}\n  b: {uses: shell, needs: [a], run: 'touch started; sleep 60'}\n  c: {uses: shell, needs: [b], run: touch $PIPE_OUT/c}\n",
    );
    let child = t.spawn(&["run", "p.yaml"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !t.path().join("started").exists() {
        assert!(std::time::Instant::now() < deadline, "stage b never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: sends a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    support::Ran::from(child.wait_with_output().unwrap())
        .code(130)
        .stdout_has(": 1 ran, 0 cached, 0 failed, 1 interrupted, 1 skipped in ");
    // None interrupted: none named.
    t.run(&["run", "p.yaml", "--stage", "a"]).success().stdout_has(": 0 ran, 1 cached, 0 failed, 0 skipped in ");
}

#[test]
fn status_why_names_the_changed_param_dep_and_upstream() {
    let t = Test::new().pipeline(
        "name: w\nparams: {k: 1}\nstages:\n  a: {uses: shell, run: 'cat data.txt > $PIPE_OUT/a', deps: [data.txt]}\n  b: {uses: shell, needs: [a], run: 'echo ${params.k} > $PIPE_OUT/b'}\n",
    )
    .file("data.txt", "one\n");
    t.run(&["run", "p.yaml"]).success();
    t.run(&["status", "p.yaml"]).success().stdout_has("0 of 2 stage instance(s) stale");
    t.run(&["status", "p.yaml", "--why", "--set", "params.k=2"])
        .success()
        .stdout_has("param `run`: \"echo 1 > $PIPE_OUT/b\" -> \"echo 2 > $PIPE_OUT/b\"");
    t.write("data.txt", "two\n");
    t.run(&["status", "p.yaml", "--why"])
        .success()
        .stdout_has("`deps.data.txt` changed")
        .stdout_has("upstream `a` is stale");
    // A stale upstream hides neither the stage's own change nor invents a removed upstream.
    let both = t.run(&["status", "p.yaml", "--why", "--set", "params.k=2"]).success();
    let both = both.stdout_has("upstream `a` is stale").stdout_has("param `run`: \"echo 1 > $PIPE_OUT/b\" -> ");
    assert!(!both.stdout.contains("removed"), "{}", both.stdout);
    t.run(&["run", "p.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "ran")]));
}

#[test]
fn outs_are_captured_into_the_artifact() {
    let t = Test::new().pipeline("name: o\nstages:\n  count: {uses: shell, run: 'wc -l < data.txt > counts.txt', deps: [data.txt], outs: [counts.txt]}\n")
        .file("data.txt", "1\n2\n3\n");
    t.run(&["run", "p.yaml"]).success();
    t.run(&["show", "p.yaml", "count"]).success().stdout_has("counts.txt");
    let dir = t.cache().join("objects").join(&t.cache_entries("objects")[0]);
    assert_eq!(std::fs::read_to_string(dir.join("counts.txt")).unwrap().trim(), "3");
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"path\": \"counts.txt\"") && manifest.contains("\"blake3\""), "{manifest}");
}

#[test]
fn dag_prints_text_dot_and_mermaid() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["dag", "p.yaml"]).success().stdout_has("c  (shell)  <- b");
    // One backslash: DOT's line break between the name and the kind, not a literal `\n`.
    t.run(&["dag", "p.yaml", "--format", "dot"])
        .success()
        .stdout_has("\"a\" -> \"b\";")
        .stdout_has("[label=\"a\\nshell\"]");
    t.run(&["dag", "p.yaml", "--format", "mermaid"]).success().stdout_has("n0 --> n1");
    assert!(!t.cache().exists());
}

#[test]
fn every_subcommand_has_help_with_examples() {
    let t = Test::new();
    for sub in ["run", "status", "dag", "diff", "show", "runs", "gc", "verify", "predict", "bench"] {
        t.run(&[sub, "--help"]).success().stdout_has("Examples:").stdout_has(&format!("pipe {sub}"));
    }
}

#[test]
fn dry_run_reports_without_running_or_recording() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml", "-j", "1"]).success();
    t.write("p.yaml", &CHAIN.replace("k: 1", "k: 5"));
    let out = t.run(&["run", "p.yaml", "--dry-run"]).success();
    let would: Vec<&str> = out.stdout.lines().skip(1).map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(would, ["reuse", "run", "run", "reuse"], "{}", out.stdout); // a, b, c, d
    assert_eq!(t.lines("ran.log").len(), 4);
    assert_eq!(t.cache_entries("runs").len(), 1);
}

#[test]
fn cache_dir_comes_from_the_flag_or_the_environment() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["--cache", "elsewhere", "run", "p.yaml"]).success();
    assert!(t.path().join("elsewhere/objects").is_dir() && !t.cache().exists());
    let ran = t.command(&["run", "p.yaml"]).env("PIPE_CACHE", t.path().join("elsewhere")).output().unwrap();
    assert!(String::from_utf8_lossy(&ran.stdout).contains("0 ran, 4 cached"));
    t.run(&["run", "missing.yaml"]).code(2).stderr_has("cannot read missing.yaml");
}

#[test]
fn without_a_terminal_progress_messages_become_occasional_log_lines() {
    // A shell stage's output lines are its progress messages: the first is printed at
    // once, a same-shaped one soon after is not, a new shape (phase) after a second is.
    let t = Test::new().pipeline(
        "name: p\nstages:\n  a: {uses: shell, run: echo epoch 1 step 1; echo epoch 1 step 2; sleep 1.3; echo evaluating; touch $PIPE_OUT/x}\n",
    );
    let ran = t.run(&["run", "p.yaml"]).success();
    let lines: Vec<&str> = ran.stderr.lines().filter(|l| l.starts_with("    ... a ")).collect();
    assert_eq!(lines.len(), 2, "{}", ran.stderr);
    assert!(lines[0].ends_with(": epoch 1 step 1") && lines[1].ends_with(": evaluating"), "{}", ran.stderr);
}

#[test]
fn a_closed_stdout_ends_quietly_without_a_panic() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml"]).success();
    // The read end closes before `pipe` writes its first line (`pipe status | true`).
    let mut child = t
        .command(&["status", "p.yaml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_seed_matrix_axis_sets_the_seed_of_each_instance_and_of_those_fanning_out() {
    let sweep = "name: s\nseed: 42\nstages:\n  t:\n    uses: shell\n    matrix: {seed: [42, 43]}\n    run: echo $PIPE_SEED > $PIPE_OUT/seed.txt\n  e:\n    uses: shell\n    needs: [t]\n    run: cat $PIPE_INPUT_T/seed.txt > $PIPE_OUT/in.txt; echo $PIPE_SEED >> $PIPE_OUT/in.txt\n";
    let plain = "name: p\nseed: 42\nstages:\n  t:\n    uses: shell\n    run: echo $PIPE_SEED > $PIPE_OUT/seed.txt\n";
    let t = Test::new().pipeline(sweep).file("plain.yaml", plain);
    t.run(&["run", "p.yaml"]).success();
    let keys = support::by_instance(&t.last_record(), "key");
    let dir = |instance: &str| t.cache().join("objects").join(&keys[instance]);
    assert_eq!(std::fs::read_to_string(dir("t[seed=43]").join("seed.txt")).unwrap(), "43\n");
    assert_eq!(std::fs::read_to_string(dir("e[seed=43]").join("in.txt")).unwrap(), "43\n43\n", "the seed is inherited");
    // The seed is key material, not a param: seed 42 is the plain stage under pipeline seed 42.
    t.run(&["run", "plain.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("t", "cached")]));
    assert_eq!(support::by_instance(&t.last_record(), "key")["t"], keys["t[seed=42]"]);

    let both = "name: b\nstages:\n  t:\n    uses: shell\n    seed: 1\n    matrix: {seed: [2, 3]}\n    run: 'true'\n";
    Test::new()
        .pipeline(both)
        .run(&["run", "p.yaml"])
        .code(2)
        .stderr_has("p.yaml:5: stage `t`: `seed:` and a `seed` matrix axis");
    let text = "name: b\nstages:\n  t:\n    uses: shell\n    matrix: {seed: [one]}\n    run: 'true'\n";
    Test::new()
        .pipeline(text)
        .run(&["run", "p.yaml"])
        .code(2)
        .stderr_has("matrix `seed` values must be non-negative integers");
}

#[test]
fn show_of_an_instance_not_built_gives_a_command_a_shell_takes_as_it_is() {
    let yaml = "name: m\nstages:\n  s: {uses: shell, matrix: {bs: [8, 16]}, run: 'echo ${matrix.bs} > $PIPE_OUT/x'}\n";
    Test::new()
        .pipeline(yaml)
        .run(&["show", "p.yaml", "s[bs=16]"])
        .success()
        .stdout_has("not built yet: run `pipe run p.yaml --stage 's[bs=16]'`");
}

#[test]
fn show_and_diff_print_a_metric_with_its_interval() {
    let yaml = "name: m\nparams: {acc: 0.5}\nstages:\n  e: {uses: shell, run: 'echo \"{\\\"acc\\\": ${params.acc}, \\\"acc_ci\\\": [0.4, 0.6]}\" > $PIPE_METRICS'}\n";
    let t = Test::new().pipeline(yaml);
    t.run(&["run", "p.yaml"]).success();
    let shown = t.run(&["show", "p.yaml", "e"]).success();
    assert!(
        shown
            .stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["acc", "0.5000", "[0.4000,", "0.6000]"]),
        "{}",
        shown.stdout
    );
    assert!(!shown.stdout.contains("acc_ci"), "the interval sits beside its metric: {}", shown.stdout);
    t.run(&["run", "p.yaml", "--set", "params.acc=0.75"]).success();
    t.run(&["diff"])
        .success()
        .stdout_has("metric    acc: 0.5000 [0.4000, 0.6000] -> 0.7500 [0.4000, 0.6000] (+0.2500)");
}

#[test]
fn a_lock_file_that_does_not_parse_stops_each_command_before_anything_runs_and_says_how_out() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml"]).success();
    let records = t.cache_entries("runs");
    let lock = std::fs::read_to_string(t.path().join("p.lock")).unwrap();
    t.write("p.lock", &format!("<<<<<<< HEAD\n{lock}=======\n{lock}>>>>>>> theirs\n"));
    for command in ["run", "status"] {
        t.run(&[command, "p.yaml"])
            .code(2)
            .stderr_has("p.lock: not a lock file pipe can read")
            .stderr_has("delete it and `pipe run` writes it anew");
    }
    assert_eq!(t.cache_entries("runs"), records, "no run record");
    assert_eq!(t.lines("ran.log").len(), 4, "nothing ran");
    std::fs::remove_file(t.path().join("p.lock")).unwrap();
    t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 4 cached");
}

#[test]
fn a_cache_that_is_a_file_is_named_as_such() {
    let t = Test::new().pipeline(CHAIN).file("cache", "not a directory\n");
    t.run(&["run", "p.yaml"]).code(2).stderr_has("error: cache cache: not a directory");
}

#[test]
fn a_damaged_run_record_is_skipped_by_runs_and_diff_and_stops_gc() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml"]).success();
    t.run(&["run", "p.yaml", "--set", "params.k=2"]).success();
    t.write("cache/runs/20000101T000000.000Z-dead.json", "{\"id\": ");
    t.run(&["runs"]).success().stdout_has("chain").stderr_has("dead.json: not a run record pipe can read");
    t.run(&["diff"]).success().stdout_has("changed b");
    // The newest record damaged: `latest` is the newest one pipe can read.
    t.write("cache/runs/29991231T000000.000Z-dead.json", "{\"id\": ");
    let first = t
        .run(&["runs"])
        .success()
        .stdout
        .lines()
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("20")))
        .map(str::to_string);
    let first = first.expect("pipe runs lists the runs");
    t.run(&["diff", &first, "latest"]).success().stderr_has("29991231T000000.000Z-dead.json: not a run record");
    let objects = t.cache_entries("objects");
    t.run(&["gc", "--keep", "1"]).code(1).stderr_has("so gc cannot tell which artifacts it keeps");
    assert_eq!(t.cache_entries("objects"), objects, "gc removed nothing");
}

#[test]
fn zero_stages_at_once_is_refused_before_anything_runs() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml", "-j", "0"])
        .code(2)
        .stderr_has("'--jobs <N>': 0: nothing would ever start; give 1 or more");
    assert!(!t.cache().exists());
}

#[test]
fn status_why_tells_a_file_added_to_a_dep_directory_from_one_changed() {
    let t = Test::new()
        .pipeline("name: d\nstages:\n  a: {uses: shell, run: 'ls src > $PIPE_OUT/list', deps: [src]}\n")
        .file("src/one.py", "1\n");
    t.run(&["run", "p.yaml"]).success();
    t.write("src/two.py", "2\n");
    t.run(&["status", "p.yaml", "--why"]).success().stdout_has("`deps.src/two.py` added");
    std::fs::remove_file(t.path().join("src/one.py")).unwrap();
    t.run(&["status", "p.yaml", "--why"]).success().stdout_has("`deps.src/one.py` removed");
}

#[test]
fn status_why_names_the_lock_files_key_and_artifact_when_the_cache_lost_them() {
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml"]).success();
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("p.lock")).unwrap()).unwrap();
    let (key, artifact) =
        (lock["stages"]["a"]["key"].as_str().unwrap(), lock["stages"]["a"]["artifact"].as_str().unwrap());
    std::fs::remove_dir_all(t.cache()).unwrap();
    t.run(&["status", "p.yaml", "--why"]).success().stdout_has(&format!(
        "the lock file's build of it (key {}, artifact {}) is no longer in the cache",
        &key[..12],
        &artifact[..12]
    ));
}

#[test]
fn the_slurm_executor_without_slurms_commands_is_refused_before_anything_runs() {
    let t = Test::new().pipeline(CHAIN);
    let empty = t.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let out = t.command(&["run", "p.yaml", "--executor", "slurm"]).env("PATH", &empty).output().unwrap();
    support::Ran::from(out).code(2).stderr_has("executor slurm: `sbatch` is not on PATH");
    assert!(!t.cache().join("runs").exists(), "no run record");
    assert!(!t.path().join("p.lock").exists());
    // What would run is still shown: a dry run needs no cluster.
    let out = t.command(&["run", "p.yaml", "--executor", "slurm", "--dry-run"]).env("PATH", &empty).output().unwrap();
    support::Ran::from(out).success().stdout_has("run");
}

#[test]
fn show_makes_runs_checks_and_a_dry_run_puts_a_stages_failure_under_the_table() {
    let t = Test::new().pipeline("name: f\nstages:\n  a: {uses: shell, run: echo, deps: [missing.txt]}\n");
    t.run(&["show", "p.yaml", "a"]).code(2).stderr_has("p.yaml:3: stage `a`: `deps`: `missing.txt` cannot be read");
    // A stage with no metrics prints no metrics heading.
    let t = Test::new().pipeline(CHAIN);
    t.run(&["run", "p.yaml"]).success();
    let shown = t.run(&["show", "p.yaml", "a"]).success().stdout_has("a.txt");
    assert!(!shown.stdout.contains("metrics"), "{}", shown.stdout);
    let t = Test::new().pipeline("name: f\nstages:\n  a: {uses: tokenize, with: {model: nobody/nomodel}}\n");
    let mut dry = t.command(&["run", "p.yaml", "--dry-run"]);
    let dry = dry.env("HF_HUB_OFFLINE", "1").env("HF_HOME", t.path().join("hf")).output().unwrap();
    let dry = support::Ran::from(dry).success().stdout_has("fail (below)");
    let header = dry.stdout.lines().next().unwrap();
    assert!(header.len() < 40, "the table stays narrow: {}", dry.stdout);
    assert!(dry.stdout.lines().any(|l| l.starts_with("a: ")), "{}", dry.stdout);
}

#[test]
fn diff_of_two_pipelines_runs_says_so() {
    let t = Test::new().pipeline(CHAIN).file("q.yaml", &CHAIN.replace("name: chain", "name: other"));
    t.run(&["run", "p.yaml"]).success();
    t.run(&["run", "q.yaml"]).success();
    let runs: Vec<String> =
        t.cache_entries("runs").into_iter().map(|r| r.trim_end_matches(".json").to_string()).collect();
    t.run(&["diff", &runs[0], &runs[1]])
        .success()
        .stderr_has("is a run of pipeline `chain`,")
        .stderr_has("of `other`: their stages are compared by name");
}
