//! `pipe run dvc.yaml`: DVC's pipeline format run by pipe, on the fixture projects of
//! tests/fixtures/dvc (in the style of DVC's get-started example) and small inline files.

mod support;

use std::path::Path;
use std::process::Command;

use support::{expect, Ran, Test};

/// A copy of fixture project `name` in a fresh test directory.
fn fixture(name: &str) -> Test {
    let test = Test::new();
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dvc").join(name), test.path());
    test
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Replaces `from` by `to` in a file of the test directory (it must be there).
fn edit(test: &Test, rel: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(test.path().join(rel)).unwrap();
    assert!(text.contains(from), "{rel} lacks {from:?}");
    test.write(rel, &text.replace(from, to));
}

const STAGES: [&str; 10] = [
    "prepare",
    "featurize",
    "train",
    "evaluate",
    "count@train",
    "count@test",
    "sweep@5-1",
    "sweep@5-3",
    "sweep@20-1",
    "sweep@20-3",
];

fn all(status: &str) -> Vec<(&'static str, &str)> {
    STAGES.iter().map(|s| (*s, status)).collect()
}

/// The fixture's `prepare -> featurize -> train -> evaluate` chain, plus the readers of data/prepared.
const EDGES: [(&str, &str); 6] = [
    ("prepare", "featurize"),
    ("featurize", "train"),
    ("featurize", "evaluate"),
    ("train", "evaluate"),
    ("prepare", "count@train"),
    ("prepare", "count@test"),
];

#[test]
fn first_run_runs_every_stage_in_dag_order_with_independent_stages_at_once() {
    let t = fixture("get-started");
    t.run(&["run", "dvc.yaml", "-j", "4"]).success().stdout_has("10 ran, 0 cached");
    assert_eq!(t.statuses(), expect(&all("ran")));
    let events = t.lines("log/events");
    let at =
        |event: String| events.iter().position(|e| *e == event).unwrap_or_else(|| panic!("no `{event}` in {events:?}"));
    for (up, down) in EDGES {
        assert!(at(format!("end {up}")) < at(format!("start {down}")), "{up} -> {down}: {events:?}");
    }
    // Each count instance waited for the other: they ran at the same time.
    at("count@train saw count@test".into());
    at("count@test saw count@train".into());
    assert_eq!(
        std::fs::read_to_string(t.path().join("eval/metrics.json")).unwrap(),
        "{\"accuracy\": 0.9286, \"test_rows\": 14}\n"
    );
    assert_eq!(t.last_record()["stages"][3]["metrics"]["accuracy"], 0.9286);
    // DVC's files stay DVC's: pipe writes its own lock beside the pipeline.
    assert!(t.path().join("dvc.pipe.lock").exists());
    assert!(!t.path().join("dvc.lock").exists() && !t.path().join(".dvc").exists());
}

#[test]
fn a_rerun_without_changes_runs_nothing() {
    let t = fixture("get-started");
    t.run(&["run", "dvc.yaml"]).success();
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 10 cached");
    t.run(&["status", "dvc.yaml"]).success().stdout_has("0 of 10 stage instance(s) stale");
}

#[test]
fn a_named_param_change_reruns_its_stage_and_downstream_and_status_names_the_key() {
    let t = fixture("get-started");
    t.run(&["run", "dvc.yaml"]).success();
    edit(&t, "params.yaml", "max_features: 30", "max_features: 12");
    t.run(&["status", "dvc.yaml", "--why"])
        .success()
        .stdout_has("param `params.featurize.max_features`: 30 -> 12")
        .stdout_has("upstream `featurize` is stale");
    t.run(&["run", "dvc.yaml"]).success();
    let mut want = all("cached");
    for stage in ["featurize", "train", "evaluate"] {
        want.iter_mut().find(|(s, _)| *s == stage).unwrap().1 = "ran";
    }
    assert_eq!(t.statuses(), expect(&want));
}

#[test]
fn set_params_overrides_params_yaml_values_as_dvc_exp_run_s_does_without_editing_the_file() {
    let t = Test::new().file("params.yaml", "train:\n  lr: 0.1\n  epochs: 2\n").file(
        "dvc.yaml",
        "stages:\n  train:\n    cmd: echo ${train.lr} > lr.txt\n    outs: [lr.txt]\n  \
         count:\n    cmd: echo x > c.txt\n    params: [train.epochs]\n    outs: [c.txt]\n",
    );
    t.run(&["run", "dvc.yaml"]).success();
    t.run(&["run", "dvc.yaml", "--set", "params.train.lr=0.5"]).success();
    assert_eq!(t.statuses(), expect(&[("train", "ran"), ("count", "cached")]));
    assert_eq!(t.lines("lr.txt"), ["0.5"]);
    t.run(&["run", "dvc.yaml", "--set", "params.train.epochs=3"]).success();
    assert_eq!(t.statuses(), expect(&[("train", "cached"), ("count", "ran")]), "`params:` deps see it too");
    t.run(&["run", "dvc.yaml", "--set", "params.train.lrr=1"])
        .code(2)
        .stderr_has("params.yaml has no param `train.lrr` (did you mean `lr`?)");
    assert_eq!(t.lines("params.yaml"), ["train:", "  lr: 0.1", "  epochs: 2"], "the file is not edited");
}

#[test]
fn a_param_no_stage_names_reruns_nothing() {
    let t = fixture("get-started");
    t.run(&["run", "dvc.yaml"]).success();
    edit(&t, "params.yaml", "owner: data-team", "owner: platform-team");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 10 cached");
}

#[test]
fn params_a_template_uses_are_tracked_as_dvc_tracks_them() {
    let t = Test::new()
        .file("params.yaml", "train:\n  lr: 0.1\n  epochs: 2\n")
        .file("dvc.yaml", "stages:\n  train:\n    cmd: echo ${train.lr} > lr.txt\n    outs: [lr.txt]\n");
    t.run(&["run", "dvc.yaml"]).success();
    edit(&t, "params.yaml", "epochs: 2", "epochs: 3");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 1 cached");
    edit(&t, "params.yaml", "lr: 0.1", "lr: 0.2");
    t.run(&["status", "dvc.yaml", "--why"]).success().stdout_has("param `params.train.lr`: 0.1 -> 0.2");
}

#[test]
fn a_deleted_out_is_restored_not_recomputed() {
    let t = fixture("get-started");
    t.run(&["run", "dvc.yaml"]).success();
    let model = std::fs::read_to_string(t.path().join("model.txt")).unwrap();
    std::fs::remove_file(t.path().join("model.txt")).unwrap();
    std::fs::remove_dir_all(t.path().join("data/prepared")).unwrap();
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 10 cached");
    assert_eq!(std::fs::read_to_string(t.path().join("model.txt")).unwrap(), model);
    assert!(t.path().join("data/prepared/train.tsv").is_file() && t.path().join("data/prepared/test.tsv").is_file());
}

#[test]
fn a_deleted_upstream_out_is_restored_before_a_stale_downstream_stage_reads_it() {
    let t = fixture("get-started");
    t.run(&["run", "dvc.yaml"]).success();
    std::fs::remove_dir_all(t.path().join("data/prepared")).unwrap();
    edit(&t, "params.yaml", "max_features: 30", "max_features: 12");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("3 ran, 7 cached");
    assert!(t.path().join("data/prepared/train.tsv").is_file());
}

#[test]
fn a_stale_stage_is_not_run_on_an_upstream_out_changed_by_hand() {
    let t = Test::new().file("in.txt", "data\n").file(
        "dvc.yaml",
        "stages:\n  a:\n    cmd: cp in.txt a.txt\n    deps: [in.txt]\n    outs: [a.txt]\n  \
         b:\n    cmd: cat a.txt > b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n",
    );
    t.run(&["run", "dvc.yaml"]).success();
    t.write("a.txt", "edited\n");
    edit(&t, "dvc.yaml", "cat a.txt > b.txt", "cat a.txt a.txt > b.txt");
    // b's key holds a's artifact, not the workspace file: run on the edit, it would cache a lie.
    t.run(&["run", "dvc.yaml"])
        .code(1)
        .stderr_has("error: stage `b`: not run: its dep `a.txt` (from `a`'s outs) differs from `a`'s artifact")
        .stderr_has("pipe checkout --force");
    assert_eq!(t.lines("a.txt"), ["edited"], "the edit is kept");
    assert_eq!(t.lines("b.txt"), ["data"], "b's earlier out is untouched");
    t.run(&["checkout", "dvc.yaml", "--force"]).success();
    t.run(&["run", "dvc.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "ran")]));
    assert_eq!(t.lines("b.txt"), ["data", "data"]);
    // Only what the stage reads counts: an edit elsewhere in an upstream's out directory does not.
    let t = Test::new().file("in.txt", "data\n").file(
        "dvc.yaml",
        "stages:\n  up:\n    cmd: mkdir -p gen; cp in.txt gen/a.txt; cp in.txt gen/b.txt\n    deps: [in.txt]\n    \
         outs: [gen]\n  down:\n    cmd: cat gen/a.txt > d.txt\n    deps: [gen/a.txt]\n    outs: [d.txt]\n",
    );
    t.run(&["run", "dvc.yaml"]).success();
    t.write("gen/b.txt", "edited\n");
    edit(&t, "dvc.yaml", "cat gen/a.txt > d.txt", "cat gen/a.txt gen/a.txt > d.txt");
    t.run(&["run", "dvc.yaml"]).success().stderr_has("warning: gen (out of up) differs");
    assert_eq!(t.lines("d.txt"), ["data", "data"]);
}

#[test]
fn stage_selects_a_foreach_group_or_one_instance_as_dvc_repro_does() {
    let t = fixture("get-started");
    t.run(&["run", "dvc.yaml", "--stage", "count"]).success();
    assert_eq!(t.statuses(), expect(&[("prepare", "ran"), ("count@train", "ran"), ("count@test", "ran")]));
    t.run(&["run", "dvc.yaml", "--stage", "sweep@20-3"]).success();
    assert_eq!(t.statuses(), expect(&[("prepare", "cached"), ("sweep@20-3", "ran")]));
}

#[test]
fn dvc_dag_edges_equal_pipes() {
    let t = fixture("get-started");
    let dvc = |args: &[&str]| {
        let out = Command::new("dvc").args(args).current_dir(t.path()).output();
        let out = out.unwrap_or_else(|e| panic!("this test needs DVC on PATH (pip install dvc): {e}"));
        assert!(out.status.success(), "dvc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    dvc(&["init", "--no-scm", "-q"]);
    let edges = |dot: &str| {
        let mut edges: Vec<String> =
            dot.lines().filter(|l| l.contains("->")).map(|l| l.trim().trim_end_matches(';').to_string()).collect();
        edges.sort();
        edges
    };
    let theirs = edges(&dvc(&["dag", "--dot"]));
    let ours = edges(&t.run(&["dag", "dvc.yaml", "--format", "dot"]).success().stdout);
    assert_eq!(theirs.len(), 10, "{theirs:?}");
    assert_eq!(ours, theirs);
}

#[test]
fn frozen_stages_never_run_and_always_changed_stages_always_do() {
    let t = Test::new().file("raw.txt", "x\n").file(
        "dvc.yaml",
        "stages:\n  fetch:\n    cmd: echo fresh > raw.txt\n    outs: [raw.txt]\n    frozen: true\n  \
         clock:\n    cmd: echo tick >> ticks.log; cp raw.txt copy.txt\n    deps: [raw.txt]\n    outs: [copy.txt]\n    always_changed: true\n",
    );
    t.run(&["run", "dvc.yaml"]).success();
    t.run(&["run", "dvc.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("clock", "ran")]));
    assert_eq!(t.lines("ticks.log").len(), 2);
    assert_eq!(t.lines("copy.txt"), ["x"], "the frozen stage's out is read as it is");
    // Named with --stage, as `dvc repro fetch`: a note, and it still does not run.
    t.run(&["run", "dvc.yaml", "--stage", "dvc.yaml:fetch", "--stage", "clock"])
        .success()
        .stderr_has("--stage dvc.yaml:fetch: the stage is frozen (`frozen: true`): it never runs");
    assert_eq!(t.lines("raw.txt"), ["x"]);
}

#[test]
fn downstream_of_a_frozen_stage_runs_the_stages_reading_its_outs_as_dvc_repro_does() {
    // `g` reads frozen `f`'s out; `k` reads it through frozen `f2`, where DVC stops too.
    let t = Test::new().file("a.txt", "x\n").file("f.txt", "old\n").file("f2.txt", "old2\n").file(
        "dvc.yaml",
        "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n  f:\n    cmd: cat a.txt > f.txt\n    deps: [a.txt]\n    \
         outs: [f.txt]\n    frozen: true\n  f2:\n    cmd: cat f.txt > f2.txt\n    deps: [f.txt]\n    outs: [f2.txt]\n    \
         frozen: true\n  g:\n    cmd: cat f.txt > g.txt\n    deps: [f.txt]\n    outs: [g.txt]\n  h:\n    \
         cmd: cat g.txt > h.txt\n    deps: [g.txt]\n    outs: [h.txt]\n  k:\n    cmd: cat f2.txt > k.txt\n    deps: [f2.txt]\n    \
         outs: [k.txt]\n  other:\n    cmd: echo o > o.txt\n    outs: [o.txt]\n",
    );
    let dry = t.run(&["run", "dvc.yaml", "--stage", "f", "--downstream", "--dry-run"]).success().stdout;
    let would: Vec<&str> = dry.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(would, ["g", "h"], "{dry}");
    t.run(&["run", "dvc.yaml", "--stage", "f", "--downstream"])
        .success()
        .stderr_has("--stage f: the stage is frozen (`frozen: true`): it never runs");
    assert_eq!(t.statuses(), expect(&[("g", "ran"), ("h", "ran")]));
    assert_eq!(t.lines("h.txt"), ["old"], "the frozen stage's out is read as it is");
    t.run(&["run", "dvc.yaml", "--stage", "f2", "--downstream"]).success();
    assert_eq!(t.statuses(), expect(&[("k", "ran")]));
}

#[test]
fn a_stage_without_deps_params_or_outs_runs_every_time_as_a_dvc_callback_stage() {
    let t = Test::new().file("params.yaml", "x: 1\n").file(
        "dvc.yaml",
        "stages:\n  notify:\n    cmd: echo ${x} >> notify.log\n  \
         pinned:\n    cmd: echo ${x} >> pinned.log\n    params: [x]\n",
    );
    t.run(&["run", "dvc.yaml"]).success();
    t.run(&["run", "dvc.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("notify", "ran"), ("pinned", "cached")]));
    assert_eq!(t.lines("notify.log"), ["1", "1"]);
    t.run(&["status", "dvc.yaml", "--why"])
        .success()
        .stdout_has("runs on every run (`always_changed`, or a DVC callback stage)");
}

#[test]
fn wdir_vars_matrix_and_persist_resolve_as_dvc_does() {
    let t = Test::new().file("cfg.yaml", "greeting: hi\n").file("sub/in.txt", "1\n").file(
        "dvc.yaml",
        "vars:\n  - cfg.yaml\n  - who: world\nstages:\n  say:\n    matrix:\n      n: [1, 2]\n      loud: [true, false]\n    \
         wdir: sub\n    cmd: echo ${greeting} ${who} ${item.n} ${item.loud} >> said-${key}.txt\n    deps: [in.txt]\n    \
         outs:\n      - said-${key}.txt:\n          persist: true\n",
    );
    t.run(&["run", "dvc.yaml"]).success();
    let names: Vec<String> = t.statuses().into_keys().collect();
    assert_eq!(names, ["say@1-false", "say@1-true", "say@2-false", "say@2-true"]);
    assert_eq!(t.lines("sub/said-2-true.txt"), ["hi world 2 true"]);
    // A persisted out is not removed before its stage runs again.
    edit(&t, "sub/in.txt", "1", "2");
    t.run(&["run", "dvc.yaml", "--stage", "say@2-true"]).success();
    assert_eq!(t.lines("sub/said-2-true.txt"), ["hi world 2 true", "hi world 2 true"]);
}

#[test]
fn a_stage_s_vars_files_are_read_in_its_wdir_as_dvc_reads_them() {
    let dvc = "stages:\n  a:\n    wdir: sub\n    vars: [c.yaml]\n    cmd: echo ${n} > a.txt\n    outs: [a.txt]\n  \
               b:\n    wdir: ${d}\n    vars: [\"c.yaml:m\"]\n    cmd: echo ${m} > b.txt\n    outs: [b.txt]\n  \
               c:\n    wdir: sub\n    vars: [\"c.yaml:\"]\n    cmd: echo ${n} ${m} > c.txt\n    outs: [c.txt]\n";
    let t = Test::new().file("params.yaml", "d: sub\n").file("c.yaml", "n: 0\n").file("sub/c.yaml", "n: 5\nm: 7\n");
    t.write("dvc.yaml", dvc);
    t.run(&["run", "dvc.yaml"]).success();
    assert_eq!(t.lines("sub/a.txt"), ["5"]);
    assert_eq!(t.lines("sub/b.txt"), ["7"]);
    // `c.yaml:`, no keys after the colon, is the whole file, as DVC reads it.
    assert_eq!(t.lines("sub/c.txt"), ["5 7"]);
    // `wdir` resolves before the stage's own `vars` load, so it cannot use them: DVC says "Could not find 'w'".
    t.write("dvc.yaml", "stages:\n  a:\n    wdir: ${w}\n    vars: [{w: sub}]\n    cmd: echo hi\n");
    t.run(&["run", "dvc.yaml"]).code(2).stderr_has("dvc.yaml:3: stage `a`: `wdir`: `${w}` is not defined");
}

#[test]
fn a_metrics_json_written_beside_the_engines_metadata_runs_and_comes_back_as_in_dvc() {
    let t = Test::new().file(
        "dvc.yaml",
        "stages:\n  train:\n    cmd: \"echo '{\\\"acc\\\": 0.9}' > metrics.json\"\n    metrics: [metrics.json]\n  \
         report:\n    cmd: cat metrics.json > report.txt\n    deps: [metrics.json]\n    outs: [report.txt]\n",
    );
    t.run(&["run", "dvc.yaml"]).success().stdout_has("2 ran").stdout_has("acc=0.9");
    assert_eq!(t.lines("report.txt"), ["{\"acc\": 0.9}"]);
    // The artifact keeps the out apart from the engine's own metrics.json.
    t.run(&["show", "dvc.yaml", "train"]).success().stdout_has("outs.pipe/metrics.json").stdout_has("acc  0.9");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 2 cached");
    std::fs::remove_file(t.path().join("metrics.json")).unwrap();
    t.run(&["run", "dvc.yaml"])
        .success()
        .stdout_has("0 ran, 2 cached")
        .stderr_has("restored metrics.json (out of train)");
    assert_eq!(t.lines("metrics.json"), ["{\"acc\": 0.9}"]);
    let status = t.run(&["status", "dvc.yaml"]).success().stdout_has("0 of 2 stage instance(s) stale");
    assert!(!status.stdout.contains("metrics.json"), "{}", status.stdout);
}

#[test]
fn a_dvc_pipeline_under_another_name_is_found_by_its_content() {
    let t = Test::new().file("pipeline.yaml", "stages:\n  hello:\n    cmd: echo hi > hi.txt\n    outs: [hi.txt]\n");
    t.run(&["run", "pipeline.yaml"]).success().stdout_has("1 ran");
    assert!(t.path().join("pipeline.lock").exists());
}

#[test]
fn toml_params_toml_metrics_and_yaml_merge_keys_read_as_dvc_reads_them() {
    let t = Test::new().file("train.toml", "[train]\nlr = 0.5\nepochs = 2\n").file(
        "dvc.yaml",
        "vars: [train.toml]\nstages:\n  train: &train\n    cmd: echo \"acc = ${train.lr}\" > m.toml\n    \
         params: [{train.toml: [train.lr]}]\n    metrics: [m.toml]\n  \
         again:\n    <<: *train\n    cmd: echo \"acc = 1.0\" > again.toml; echo {oops > bad.json\n    \
         metrics: [again.toml, bad.json]\n",
    );
    let run = t.run(&["run", "dvc.yaml"]).success();
    run.stderr_has("warning: stage `again`: metrics file").stderr_has("bad.json: it is not valid YAML or JSON");
    let record = t.last_record();
    let metrics = |stage: &str| {
        let entries = record["stages"].as_array().unwrap();
        entries.iter().find(|s| s["instance"] == stage).unwrap()["metrics"].clone()
    };
    assert_eq!(metrics("train")["acc"], 0.5);
    assert_eq!(metrics("again")["acc"], 1.0);
    assert!(t.path().join("bad.json").exists(), "the out of a finished stage is kept");
    edit(&t, "train.toml", "epochs = 2", "epochs = 3");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 2 cached");
    edit(&t, "train.toml", "lr = 0.5", "lr = 0.25");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("2 ran, 0 cached");
}

#[test]
fn a_python_stage_depending_on_its_source_directory_runs_once() {
    let t = Test::new()
        .file("src/util.py", "x = 3\n")
        .file("src/train.py", "import util\nopen('model.txt', 'w').write(str(util.x))\n")
        .file("dvc.yaml", "stages:\n  train:\n    cmd: python3 src/train.py\n    deps: [src]\n    outs: [model.txt]\n");
    // As a user's shell would: Python free to write src/__pycache__/, which a dep hash would see.
    let run =
        |t: &Test| Ran::from(t.command(&["run", "dvc.yaml"]).env_remove("PYTHONDONTWRITEBYTECODE").output().unwrap());
    run(&t).success().stdout_has("1 ran");
    run(&t).success().stdout_has("0 ran, 1 cached");
    assert_eq!(t.lines("model.txt"), ["3"]);
    // A command writing into its own deps is told why its stage will run again.
    t.write(
        "dvc.yaml",
        "stages:\n  train:\n    cmd: date >> src/log.txt; touch model.txt\n    deps: [src]\n    outs: [model.txt]\n",
    );
    run(&t)
        .success()
        .stderr_has("warning: stage `train`: a file of its deps changed while its command ran (src/log.txt added)");
}

/// `dvc.yaml` holding `yaml` (with a params.yaml) fails with exit code 2 and `message`.
fn rejects(yaml: &str, message: &str) {
    Test::new()
        .file("params.yaml", "train:\n  seed: 1\n  lr: 0.1\n")
        .file("a.txt", "a\n")
        .file("dvc.yaml", yaml)
        .run(&["run", "dvc.yaml"])
        .code(2)
        .stderr_has(message);
}

#[test]
fn each_unsupported_or_wrong_construct_gets_its_own_error() {
    rejects(
        "stages:\n  a:\n    cmd: x\n    dep: [a.txt]\n",
        "dvc.yaml:4: stage `a`: unknown key `dep` (did you mean `deps`?)",
    );
    rejects("stage:\n  a:\n    cmd: x\n", "dvc.yaml:1: unknown top-level key `stage` (did you mean `stages`?)");
    rejects(
        "stages:\n  a:\n    cmd: x\n    outs: [o.txt]\n  b:\n    cmd: y\n    outs: [o.txt]\n",
        "dvc.yaml:7: stage `b`: out `o.txt` is also an out of stage `a`: two stages cannot write the same path",
    );
    rejects(
        "stages:\n  a:\n    cmd: x\n    deps: [a.txt]\n    outs: [a.txt]\n",
        "dvc.yaml:5: stage `a`: out `a.txt` is also a dep of the same stage",
    );
    rejects(
        "stages:\n  a:\n    cmd: x\n    params:\n      - train.sed\n",
        "dvc.yaml:4: stage `a`: params key `train.sed` is not in params.yaml (did you mean `train.seed`?)",
    );
    rejects(
        "stages:\n  a:\n    cmd: x\n    params:\n      - p.py: [a]\n",
        ".py params files are not supported; pipe reads YAML, JSON and TOML",
    );
    rejects(
        "stages:\n  a:\n    cmd: x\n    deps: [s3://bucket/data.csv]\n",
        "dvc.yaml:4: stage `a`: `s3://bucket/data.csv`: remote deps and outs are not supported",
    );
    rejects(
        "stages:\n  a:\n    cmd: x\n    outs:\n      - m:\n          checkpoint: true\n",
        "`m`: `checkpoint` outs are not supported",
    );
    rejects(
        "stages:\n  a:\n    foreach: [1, 2]\n    do:\n      matrix: {x: [1]}\n      cmd: x\n",
        "dvc.yaml:5: stage `a`: `matrix` inside `foreach`'s `do:` is not supported",
    );
    rejects(
        "stages:\n  a:\n    cmd: echo ${train.lrr}\n",
        "dvc.yaml:3: stage `a`: `cmd`: `${train.lrr}`: `train` has no `lrr` (did you mean `lr`?)",
    );
    rejects("stages:\n  a:\n    cmd: x\n    outs: [../o]\n", "`../o` lies outside the directory of dvc.yaml");
    // As DVC: `vars` may not redefine what params.yaml or other `vars` set, nor the iteration's names.
    rejects(
        "vars: [{train: {lr: 0.2}}]\nstages:\n  a:\n    cmd: echo ${train.lr}\n",
        "dvc.yaml:1: `vars[0]` redefines `train.lr` (0.1 -> 0.2), which `params.yaml` set already",
    );
    rejects(
        "stages:\n  a:\n    foreach: [x, y]\n    do:\n      vars: [{item: 5}]\n      cmd: echo ${item}\n",
        "stage `a`: `vars` may not set `item`: DVC reserves it",
    );
}

#[test]
fn vars_may_not_set_a_key_again_even_to_the_same_value_as_dvc_refuses() {
    let t = Test::new().file("params.yaml", "train:\n  lr: 0.1\n").file("cfg.yaml", "a: 1\n");
    let fails = |yaml: &str, message: &str| {
        t.write("dvc.yaml", yaml);
        t.run(&["run", "dvc.yaml"]).code(2).stderr_has(message);
    };
    fails(
        "vars:\n  - {x: 1}\n  - {x: 1}\nstages:\n  s:\n    cmd: echo ${x}\n",
        "dvc.yaml:1: `vars[1]` redefines `x` (1 -> 1), which `vars[0]` set already; \
         DVC refuses any redefinition, even to the same value",
    );
    fails(
        "vars:\n  - cfg.yaml\n  - {a: 1}\nstages:\n  s:\n    cmd: echo ${a}\n",
        "dvc.yaml:1: `vars[1]` redefines `a` (1 -> 1), which `cfg.yaml` set already",
    );
    fails(
        "stages:\n  s:\n    vars:\n      - {train: {lr: 0.1}}\n    cmd: echo ${train.lr}\n",
        "dvc.yaml:3: stage `s`: `s.vars[0]` redefines `train.lr` (0.1 -> 0.1), which `params.yaml` set already",
    );
    fails(
        "vars: [cfg.yaml:a, cfg.yaml:a]\nstages:\n  s:\n    cmd: echo ${a}\n",
        "dvc.yaml:1: `vars`: cannot load `cfg.yaml:a`: `a` is loaded already",
    );
    // A whole file listed again, however spelled, is loaded once, as DVC loads it.
    t.write(
        "dvc.yaml",
        "vars: [cfg.yaml, ./cfg.yaml, params.yaml]\nstages:\n  s:\n    vars: [cfg.yaml]\n    cmd: echo ${a} > o.txt\n",
    );
    t.run(&["run", "dvc.yaml"]).success();
    assert_eq!(t.lines("o.txt"), ["1"]);
}

#[test]
fn plot_templates_are_named_as_unused_and_the_plots_kept_as_outs() {
    let t = Test::new().file(
        "dvc.yaml",
        "stages:\n  a:\n    cmd: printf 'x,y\\n1,2\\n' > p.csv\n    plots:\n      - p.csv:\n          x: x\n          y: y\n",
    );
    t.run(&["run", "dvc.yaml"])
        .success()
        .stderr_has("note: dvc.yaml:4: stage `a`: `plots` templates are not used; the files are kept as outs");
    t.run(&["show", "dvc.yaml", "a"]).success().stdout_has("p.csv");
}

#[test]
fn dvc_templating_is_the_only_one_a_command_gets() {
    // DVC turns `\${` into `${` and leaves the rest to the shell; pipe's own `${params.x}`
    // must not then take it for a reference, nor a value spliced in from params.yaml.
    let t = Test::new().file("params.yaml", "tag: ${matrix.m}\n").file(
        "dvc.yaml",
        "stages:\n  a:\n    cmd: echo '\\${params.x}' '${tag}' > o.txt\n    params: [tag]\n    outs: [o.txt]\n",
    );
    t.run(&["run", "dvc.yaml"]).success();
    assert_eq!(t.lines("o.txt"), ["${params.x} ${matrix.m}"]);
}

/// What `dvc_run` checks: a string `cmd` runs line by line, each line in a fresh `$SHELL`
/// (bash here: brace expansion), with `DVC_ROOT` and `DVC_STAGE` set, and `${dict}` unpacked
/// as `.dvc/config`'s `[parsing]` says.
const AS_DVC_RUNS: &str = r#"stages:
  lines:
    cmd: |
      X=5
      echo "X=$X" > v.txt
    outs: [v.txt]
  env:
    wdir: sub
    cmd: test "$DVC_ROOT" = "$(cd .. && pwd)" && echo "root $DVC_STAGE" > env.txt
    outs: [env.txt]
  bash:
    cmd: echo {1..3} > b.txt
    outs: [b.txt]
  flags:
    cmd: echo ${cfg} > f.txt
    outs: [f.txt]
"#;

#[test]
fn commands_run_line_by_line_in_shell_with_dvc_root_and_stage_and_unpack_as_dvc_config_says() {
    let config = "[core]\n    no_scm = True\n[parsing]\n    bool = boolean_optional\n    list = append\n";
    let project = |t: &Test| {
        t.write("dvc.yaml", AS_DVC_RUNS);
        t.write("params.yaml", "cfg:\n  lr: 0.1\n  shuffle: false\n  tags: [a, b]\n  none: []\n");
        std::fs::create_dir_all(t.path().join("sub")).unwrap();
    };
    let (ours, theirs) = (Test::new(), Test::new());
    project(&ours);
    project(&theirs);
    let dvc = Command::new("dvc").args(["init", "--no-scm", "-q"]).current_dir(theirs.path()).status();
    assert!(dvc.unwrap_or_else(|e| panic!("this test needs DVC on PATH (pip install dvc): {e}")).success());
    theirs.write(".dvc/config", config);
    ours.write(".dvc/config", config);
    let repro = Command::new("dvc").args(["repro", "-q"]).env("SHELL", "/bin/bash").current_dir(theirs.path()).output();
    let repro = repro.unwrap();
    assert!(repro.status.success(), "dvc repro: {}", String::from_utf8_lossy(&repro.stderr));
    Ran::from(ours.command(&["run", "dvc.yaml"]).env("SHELL", "/bin/bash").output().unwrap()).success();
    for out in ["v.txt", "sub/env.txt", "b.txt", "f.txt"] {
        let read = |t: &Test| std::fs::read_to_string(t.path().join(out)).unwrap_or_else(|e| panic!("{out}: {e}"));
        assert_eq!(read(&ours), read(&theirs), "{out}");
    }
    let read = |rel: &str| std::fs::read_to_string(ours.path().join(rel)).unwrap();
    assert_eq!(
        [read("v.txt"), read("sub/env.txt"), read("b.txt"), read("f.txt")],
        ["X=\n", "root env\n", "1 2 3\n", "--lr 0.1 --no-shuffle --tags a --tags b\n"]
    );
    // The lines stop at the first that fails, as DVC's do.
    ours.write(
        "dvc.yaml",
        "stages:\n  s:\n    cmd: |\n      echo one > s.txt\n      exit 3\n      echo two > t.txt\n    outs: [s.txt]\n",
    );
    ours.run(&["run", "dvc.yaml"]).code(1).stderr_has("the command failed with exit code 3");
    assert!(!ours.path().join("t.txt").exists(), "a line after the failing one ran");
    // `vars` may not interpolate, in DVC's words.
    ours.write("dvc.yaml", "vars:\n  - a: 1\n  - b: ${a}\nstages:\n  s: {cmd: 'true', outs: [x]}\n");
    ours.run(&["run", "dvc.yaml"]).code(2).stderr_has("interpolating is not allowed in `vars` (`${a}`)");
}

#[test]
fn the_same_stage_written_another_way_reruns_nothing_as_in_dvc() {
    let yaml = |deps: &str, outs: &str| {
        format!(
            "stages:\n  s:\n    cmd: cat a.txt b.txt > x.txt; cp x.txt y.txt\n    deps: [{deps}]\n    params: [lr]\n    outs: [{outs}]\n"
        )
    };
    let t = Test::new()
        .file("a.txt", "a\n")
        .file("b.txt", "b\n")
        .file("params.yaml", "lr: 1\n")
        .file("dvc.yaml", &yaml("a.txt, b.txt", "x.txt, y.txt"));
    t.run(&["run", "dvc.yaml"]).success().stdout_has("1 ran");
    t.write("dvc.yaml", &yaml("b.txt, a.txt", "y.txt, x.txt"));
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 1 cached");
    // DVC compares params with Python's `==`: 1.0 is 1.
    t.write("params.yaml", "lr: 1.0\n");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 1 cached");
    t.write("params.yaml", "lr: 1.5\n");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("1 ran");
}

#[test]
fn a_pipeline_with_nothing_to_run_runs_nothing_and_exits_0_as_dvc_repro_does() {
    let t = Test::new().file("a.txt", "a\n").file("dvc.yaml", "stages: {}\n");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran").stderr_has("nothing to run: `stages:` is empty");
    t.write("dvc.yaml", "stages:\n  a:\n    cmd: echo b > a.txt\n    outs: [a.txt]\n    frozen: true\n");
    t.run(&["run", "dvc.yaml"]).success().stderr_has("nothing to run: every stage is frozen");
    assert_eq!(std::fs::read_to_string(t.path().join("a.txt")).unwrap(), "a\n", "a frozen stage ran");
}

#[test]
fn a_stage_dvc_keeps_no_run_cache_for_runs_again_when_its_inputs_go_back_to_an_earlier_state() {
    let t = Test::new().file("in.txt", "a\n").file(
        "dvc.yaml",
        "stages:\n  log:\n    cmd: cat in.txt >> log.txt\n    deps: [in.txt]\n    outs:\n      - log.txt: {persist: true}\n  \
         check:\n    cmd: cat in.txt >> checks.txt\n    deps: [in.txt]\n",
    );
    for input in ["a\n", "b\n", "a\n"] {
        t.write("in.txt", input);
        t.run(&["run", "dvc.yaml"]).success().stdout_has("2 ran, 0 cached");
    }
    // As `dvc repro`: the persist out goes on from the workspace's, not an earlier run's copy,
    // and the stage without outs ran each time.
    assert_eq!(std::fs::read_to_string(t.path().join("log.txt")).unwrap(), "a\nb\na\n");
    assert_eq!(std::fs::read_to_string(t.path().join("checks.txt")).unwrap(), "a\nb\na\n");
    // Unchanged since the lock file's run, they are up to date.
    t.run(&["status", "dvc.yaml"]).success().stdout_has("0 of 2 stage instance(s) stale");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 2 cached");
}

#[test]
fn what_dvcignore_excludes_from_a_dep_directory_neither_reruns_nor_stops_a_stage() {
    let t = Test::new()
        .file(".dvcignore", "*.tmp\nscratch/\n")
        .file("data/raw.txt", "1\n")
        .file(
            "dvc.yaml",
            "stages:\n  prep:\n    cmd: cat data/raw.txt > prep.txt; echo x > data/during.tmp\n    deps: [data]\n    outs: [prep.txt]\n",
        );
    std::fs::create_dir_all(t.path().join("data/scratch")).unwrap();
    std::os::unix::fs::symlink("/nowhere", t.path().join("data/scratch/link")).unwrap();
    // The command writes an ignored file into its own dep directory: not a change of its dep.
    t.run(&["run", "dvc.yaml"]).success().stdout_has("1 ran");
    t.write("data/junk.tmp", "x\n");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 1 cached");
    t.write("data/new.txt", "y\n");
    t.run(&["run", "dvc.yaml"]).success().stdout_has("1 ran");
}

/// Runs `dvc` in the test directory; it must succeed. Its stdout.
fn dvc(t: &Test, args: &[&str]) -> String {
    let out = Command::new("dvc").args(args).current_dir(t.path()).output();
    let out = out.unwrap_or_else(|e| panic!("this test needs DVC on PATH (pip install dvc): {e}"));
    assert!(out.status.success(), "dvc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `prep -> train -> eval`, with a params dep, a whole params section, a directory out and
/// a metrics file; each command appends its stage's name to `ran.log`, which no stage
/// declares. DVC has run it: `dvc.lock` is up to date.
fn repro_by_dvc() -> Test {
    let t = Test::new()
        .file("in.txt", "a\nb\nc\n")
        .file("train.cfg", "depth 1\n")
        .file("params.yaml", "prep:\n  n: 2\ntrain:\n  lr: 0.1\n  shuffle: true\n")
        .file(
            "dvc.yaml",
            r#"stages:
  prep:
    cmd: echo prep >> ran.log && mkdir -p data/sub && head -n ${prep.n} in.txt > data/x.txt && echo y > data/sub/y.txt
    deps: [in.txt]
    params: [prep.n]
    outs: [data]
  train:
    cmd:
      - echo train >> ran.log
      - cat data/x.txt train.cfg > model.txt
    deps: [data, train.cfg]
    params: [train]
    outs: [model.txt]
  eval:
    cmd: "echo eval >> ran.log && echo '{\"lines\": 4}' > m.json"
    deps: [model.txt]
    metrics: [m.json]
"#,
        );
    dvc(&t, &["init", "--no-scm", "-q"]);
    dvc(&t, &["repro", "-q"]);
    assert_eq!(t.lines("ran.log"), ["prep", "train", "eval"]);
    t
}

/// The stages a pipe run adopted from dvc.lock, as its stderr says.
fn adopted(ran: &Ran) -> Vec<&str> {
    let said = ran.stderr.lines().filter_map(|l| l.strip_prefix("adopted from dvc.lock: "));
    said.filter_map(|rest| rest.split_once(" (cmd, deps, params and outs match DVC's last run)"))
        .map(|(s, _)| s)
        .collect()
}

#[test]
fn what_dvc_repro_left_up_to_date_is_adopted_without_running_its_commands() {
    let t = repro_by_dvc();
    let read = |rel: &str| std::fs::read(t.path().join(rel)).unwrap();
    let dvcs = ["dvc.lock", "data/x.txt", "data/sub/y.txt", "model.txt", "m.json"].map(|rel| (rel, read(rel)));
    // Stale for pipe, which has built nothing yet; what a run would do is said before it runs.
    t.run(&["status", "dvc.yaml"])
        .success()
        .stdout_has("3 of 3 stage instance(s) stale, 3 to adopt from dvc.lock")
        .stdout_has("dvc.lock shows DVC's last run current: `pipe run` adopts its outs without running the command\n");
    let dry = t.run(&["run", "dvc.yaml", "--dry-run"]).success();
    assert_eq!(dry.stdout.matches("adopt from dvc.lock").count(), 3, "{}", dry.stdout);
    let ran = t.run(&["run", "dvc.yaml"]).success().stdout_has("lines=4").stdout_has("0 ran, 0 cached, 3 adopted");
    assert_eq!(adopted(&ran), ["prep", "train", "eval"]);
    assert_eq!(t.statuses(), expect(&[("prep", "adopted"), ("train", "adopted"), ("eval", "adopted")]));
    assert_eq!(t.lines("ran.log"), ["prep", "train", "eval"], "no command ran");
    for (rel, bytes) in &dvcs {
        assert_eq!(&read(rel), bytes, "{rel} is DVC's");
    }
    assert!(dvc(&t, &["status"]).contains("up to date"), "DVC still finds its pipeline up to date");
    let again = t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 3 cached");
    assert!(adopted(&again).is_empty());
    // The artifacts hold the outs, as if the commands had run: they come back from pipe's store.
    std::fs::remove_dir_all(t.path().join("data")).unwrap();
    std::fs::remove_file(t.path().join("model.txt")).unwrap();
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 3 cached");
    for (rel, bytes) in &dvcs {
        assert_eq!(&read(rel), bytes, "{rel} restored");
    }
    assert_eq!(t.lines("ran.log"), ["prep", "train", "eval"]);
}

#[test]
fn after_a_dep_is_edited_its_stage_and_what_changes_downstream_run_and_the_rest_is_adopted() {
    let t = repro_by_dvc();
    t.write("train.cfg", "depth 2\n");
    // eval's entry is current until train runs, which rewrites the model eval reads.
    t.run(&["status", "dvc.yaml"])
        .success()
        .stdout_has("3 of 3 stage instance(s) stale, 2 to adopt from dvc.lock")
        .stdout_has("without running the command unless running `train` changes what it reads");
    let ran = t.run(&["run", "dvc.yaml"]).success();
    assert_eq!(adopted(&ran), ["prep"]);
    assert_eq!(t.lines("ran.log"), ["prep", "train", "eval", "train", "eval"]);
    assert_eq!(t.lines("model.txt"), ["a", "b", "depth 2"]);
}

#[test]
fn an_out_edited_after_dvc_repro_is_not_adopted_and_its_stage_runs() {
    let t = repro_by_dvc();
    t.write("model.txt", "edited\n");
    // eval's dep is edited too: judged once train has made it again.
    t.run(&["status", "dvc.yaml"])
        .success()
        .stdout_has(
            "3 of 3 stage instance(s) stale, 1 to adopt from dvc.lock (1 more judged once their upstream is done)",
        )
        .stdout_has("dvc.lock is judged once `train` is done");
    let dry = t.run(&["run", "dvc.yaml", "--dry-run"]).success();
    assert!(dry.stdout.contains("run, or adopt from dvc.lock once `train` is done"), "{}", dry.stdout);
    let ran = t.run(&["run", "dvc.yaml"]).success();
    // train makes model.txt again as DVC had it, so eval's dep is as dvc.lock records it (dvc repro skips eval too).
    assert_eq!(adopted(&ran), ["prep", "eval"]);
    assert_eq!(t.lines("ran.log"), ["prep", "train", "eval", "train"]);
    assert_eq!(t.lines("model.txt"), ["a", "b", "depth 1"]);
}

#[test]
fn outs_dvc_repro_remade_after_a_pipe_run_are_to_be_adopted_not_edits_by_hand() {
    let t = repro_by_dvc();
    t.run(&["run", "dvc.yaml"]).success();
    edit(&t, "params.yaml", "n: 2", "n: 3");
    dvc(&t, &["repro", "-q"]);
    let status = t.run(&["status", "dvc.yaml"]).success().stdout_has("3 of 3 stage instance(s) stale, 3 to adopt");
    assert!(!status.stdout.contains("changed by hand"), "{}", status.stdout);
    t.run(&["run", "dvc.yaml"]).success().stdout_has("0 ran, 0 cached, 3 adopted");
}

#[test]
fn a_changed_param_runs_its_stage_whether_in_the_file_or_set() {
    let t = repro_by_dvc();
    let ran = t.run(&["run", "dvc.yaml", "--set", "params.prep.n=3"]).success();
    assert!(adopted(&ran).is_empty(), "{}", ran.stderr);
    assert_eq!(t.lines("ran.log")[3..], ["prep", "train", "eval"]);
    let t = repro_by_dvc();
    // The whole `train` section is tracked: a key the command does not read still counts.
    edit(&t, "params.yaml", "lr: 0.1", "lr: 0.2");
    let ran = t.run(&["run", "dvc.yaml"]).success();
    assert_eq!(adopted(&ran), ["prep", "eval"]);
    assert_eq!(t.lines("ran.log")[3..], ["train"]);
    // DVC compares with Python's `==`, where `True == 1`: for dvc repro, nothing changed.
    let t = repro_by_dvc();
    edit(&t, "params.yaml", "shuffle: true", "shuffle: 1");
    let ran = t.run(&["run", "dvc.yaml"]).success();
    assert_eq!(adopted(&ran), ["prep", "train", "eval"]);
}

#[test]
fn a_forced_run_or_an_always_changed_stage_runs_however_up_to_date_dvc_lock_is() {
    let t = repro_by_dvc();
    let ran = t.run(&["run", "dvc.yaml", "--force"]).success().stdout_has("3 ran");
    assert!(adopted(&ran).is_empty(), "{}", ran.stderr);
    assert_eq!(t.lines("ran.log")[3..], ["prep", "train", "eval"]);
    // Forcing one stage: it runs, what it needs upstream is still adopted.
    let t = repro_by_dvc();
    let dry = t.run(&["run", "dvc.yaml", "--force", "--stage", "eval", "--dry-run"]).success();
    assert_eq!(dry.stdout.matches("adopt from dvc.lock").count(), 2, "{}", dry.stdout);
    let ran =
        t.run(&["run", "dvc.yaml", "--force", "--stage", "eval"]).success().stdout_has("1 ran, 0 cached, 2 adopted");
    assert_eq!(adopted(&ran), ["prep", "train"], "{}", ran.stderr);
    assert_eq!(t.lines("ran.log")[3..], ["eval"]);
    let t = Test::new().file(
        "dvc.yaml",
        "stages:\n  clock:\n    cmd: echo tick >> ran.log && echo now > now.txt\n    outs: [now.txt]\n    always_changed: true\n",
    );
    dvc(&t, &["init", "--no-scm", "-q"]);
    dvc(&t, &["repro", "-q"]);
    let ran = t.run(&["run", "dvc.yaml"]).success();
    assert!(adopted(&ran).is_empty(), "{}", ran.stderr);
    assert_eq!(t.lines("ran.log"), ["tick", "tick"]);
}

#[test]
fn a_dvc_lock_pipe_cannot_read_is_a_warning_and_its_stages_run() {
    let t = repro_by_dvc();
    let lock = std::fs::read_to_string(t.path().join("dvc.lock")).unwrap();
    t.write("dvc.lock", "stages: [prep\n");
    // Said once, naming the file, not by each stage.
    let ran = t
        .run(&["run", "dvc.yaml"])
        .success()
        .stdout_has("3 ran")
        .stderr_has("nothing is adopted from it: its stages run");
    let said = format!("warning: {}: ", t.path().join("dvc.lock").display());
    assert_eq!(ran.stderr.matches(&said).count(), 1, "{}", ran.stderr);
    assert!(!ran.stderr.contains("warning: stage"), "{}", ran.stderr);
    // Files DVC's schema refuses: nothing is adopted from them either.
    for (text, said) in [
        ("garbage\n".to_string(), "dvc.lock: not a mapping of `schema` and `stages`"),
        (lock.replace("schema: '2.0'\n", ""), "dvc.lock: `schema` is missing"),
        (lock.replace("schema: '2.0'", "schema: '3.0'"), "dvc.lock: `schema` is not '2.0'"),
    ] {
        let t = repro_by_dvc();
        t.write("dvc.lock", &text);
        t.run(&["run", "dvc.yaml"]).success().stdout_has("3 ran").stderr_has(said);
    }
    assert_eq!(t.lines("ran.log")[3..], ["prep", "train", "eval"]);
    // One entry malformed: that stage runs, named with the key; the others are adopted.
    let t = repro_by_dvc();
    edit(&t, "dvc.lock", "train.cfg > model.txt\n    deps:\n", "train.cfg > model.txt\n    deps: 5\n    was:\n");
    t.run(&["status", "dvc.yaml"]).success().stdout_has(
        "dvc.lock: `stages.train.deps` is not a list: nothing is adopted from it; `pipe run` runs the command",
    );
    let ran = t.run(&["run", "dvc.yaml"]).success().stderr_has("dvc.lock: `stages.train.deps` is not a list");
    assert_eq!(adopted(&ran), ["prep", "eval"]);
    assert_eq!(t.lines("ran.log")[3..], ["train"]);
    // An entry in DVC 2's format (md5s without `hash: md5`) is not adopted, without a warning.
    let t = repro_by_dvc();
    t.write("dvc.lock", &lock.replace("      hash: md5\n", ""));
    let ran = t.run(&["run", "dvc.yaml"]).success().stdout_has("3 ran");
    assert!(adopted(&ran).is_empty() && !ran.stderr.contains("warning"), "{}", ran.stderr);
}

#[test]
fn generated_stages_a_wdir_other_params_files_and_dvcignore_are_read_as_dvc_wrote_them() {
    let t = fixture("get-started");
    dvc(&t, &["init", "--no-scm", "-q"]);
    dvc(&t, &["repro", "-q"]);
    let events = t.lines("log/events");
    let ran = t.run(&["run", "dvc.yaml"]).success();
    let mut names = adopted(&ran);
    names.sort_unstable();
    let mut want = STAGES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want, "foreach and matrix stages are found by DVC's names");
    assert_eq!(t.lines("log/events"), events, "no command ran");
    // Paths relative to `wdir` and written DVC's way (`./src/`, `../w.txt`), params of other
    // files (keys, and a whole file), and a dep directory with a file `.dvcignore` excludes.
    let t = Test::new()
        .file(".dvcignore", "*.tmp\n")
        .file("sub/src/a.txt", "1\n")
        .file("sub/src/x.tmp", "t\n")
        .file("sub/params.yaml", "k: 1\n")
        .file("sub/other.yaml", "a:\n  b: 2\nc: [1, 2]\n")
        .file("sub/whole.json", r#"{"w": 1}"#)
        .file(
            "dvc.yaml",
            "stages:\n  w:\n    wdir: sub\n    cmd: echo w >> ../ran.log && cat src/a.txt > ../w.txt\n    deps: [./src/]\n    \
             params:\n      - k\n      - other.yaml: [a.b, c]\n      - whole.json:\n    outs: [../w.txt]\n",
        );
    dvc(&t, &["init", "--no-scm", "-q"]);
    dvc(&t, &["repro", "-q"]);
    t.write("sub/src/y.tmp", "ignored\n");
    assert_eq!(adopted(&t.run(&["run", "dvc.yaml"]).success()), ["w"]);
    assert_eq!(t.lines("ran.log"), ["w"]);
    // A whole file tracked: a key added to it is a change.
    t.write("sub/whole.json", r#"{"w": 1, "v": 2}"#);
    assert!(adopted(&t.run(&["run", "dvc.yaml"]).success()).is_empty());
    assert_eq!(t.lines("ran.log"), ["w", "w"]);
}
