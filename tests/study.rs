//! End to end: the whole SST-2 study on the tiny-bert fixture through the `pipe`
//! binary, against the offline hub cache in ../shared/hf.

mod support;

use support::{by_instance, expect, Test};

const TINY: &str = include_str!("pipelines/tiny.yaml");
const TINY_ABLATIONS: &str = include_str!("pipelines/tiny_ablations.yaml");

fn study() -> Test {
    pipe_stages::testkit::use_offline_hub();
    Test::new().pipeline(TINY).file("ablations.yaml", TINY_ABLATIONS)
}

impl Test {
    /// The artifact directory of a stage instance in the newest run.
    fn artifact_dir(&self, instance: &str) -> std::path::PathBuf {
        let keys = by_instance(&self.last_record(), "key");
        let key = keys.get(instance).unwrap_or_else(|| panic!("no `{instance}` in the run record: {keys:?}"));
        self.cache().join("objects").join(key)
    }
}

#[test]
fn the_tiny_study_runs_end_to_end_and_reproduces_byte_for_byte() {
    let a = study();
    a.run(&["run", "p.yaml", "-j", "2"]).success();
    let stages = ["download", "split", "tokenize", "train", "evaluate", "calibrate", "slice", "visualize", "report"];
    assert_eq!(a.statuses(), expect(&stages.map(|s| (s, "ran"))));

    let report = a.artifact_dir("report");
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    for section in ["Test metrics", "Calibration", "Slices", "Error analysis", "integrated gradients"] {
        assert!(html.to_lowercase().contains(&section.to_lowercase()), "report.html lacks {section}");
    }
    assert!(!html.contains("src=\"http"), "report.html must be self-contained");
    let figures = a.artifact_dir("visualize").join("figures");
    for category in ["negation", "contrast", "failure"] {
        assert!(figures.join(format!("{category}_1_ig.png")).is_file(), "no {category} figure");
    }

    // A second machine-independent run in a fresh cache gives the same artifacts.
    let b = study();
    b.run(&["run", "p.yaml", "-j", "1"]).success();
    assert_eq!(by_instance(&a.last_record(), "artifact"), by_instance(&b.last_record(), "artifact"));
}

#[test]
fn changing_calibration_bins_reruns_only_calibrate_and_what_follows() {
    let t = study();
    t.run(&["run", "p.yaml"]).success();
    t.run(&["run", "p.yaml", "--set", "calibrate.bins=10"]).success();
    let mut want = expect(&[
        ("download", "cached"),
        ("split", "cached"),
        ("tokenize", "cached"),
        ("train", "cached"),
        ("evaluate", "cached"),
        ("calibrate", "ran"),
        ("slice", "cached"),
        ("visualize", "cached"),
    ]);
    want.insert("report".into(), "ran".into());
    assert_eq!(t.statuses(), want);
    t.run(&["diff"]).success().stdout_has("calibrate");
}

#[test]
fn int8_evaluation_is_a_new_evaluate_key_and_none_keeps_the_old_one() {
    let t = study();
    t.run(&["run", "p.yaml"]).success();
    let fp32 = t.last_record();
    // `none` is the default, left out of the key: nothing reruns.
    t.run(&["run", "p.yaml", "--set", "evaluate.quantize=none"]).success();
    assert!(t.statuses().values().all(|s| s == "cached"), "{:?}", t.statuses());
    t.run(&["run", "p.yaml", "--set", "evaluate.quantize=int8"]).success();
    let statuses = t.statuses();
    for (stage, status) in statuses.iter() {
        let downstream = ["evaluate", "calibrate", "slice", "visualize", "report"].contains(&stage.as_str());
        assert_eq!(status, if downstream { "ran" } else { "cached" }, "{stage}: {statuses:?}");
    }
    let evaluate = |record: &serde_json::Value| {
        record["stages"].as_array().unwrap().iter().find(|s| s["instance"] == "evaluate").unwrap().clone()
    };
    let (a, b) = (evaluate(&fp32), evaluate(&t.last_record()));
    // Records show the default that the key leaves out (`Stage::implicit`).
    assert_eq!(
        (&a["params"]["quantize"], &b["params"]["quantize"]),
        (&serde_json::json!("none"), &serde_json::json!("int8"))
    );
    t.run(&["diff"]).success().stdout_has("param     quantize: \"none\" -> \"int8\"");
    let (a, b) = (a["metrics"]["accuracy"].as_f64().unwrap(), b["metrics"]["accuracy"].as_f64().unwrap());
    assert!((a - b).abs() <= 0.05, "int8 accuracy {b} far from fp32 {a}");
    t.run(&["run", "p.yaml", "--set", "evaluate.quantize=int4"]).code(2).stderr_has("int4");
}

#[test]
fn an_ablation_sweep_reuses_the_shared_stages_and_the_identical_variant() {
    let t = study();
    t.run(&["run", "p.yaml"]).success();
    t.run(&["run", "ablations.yaml"]).success();
    let statuses = t.statuses();
    for shared in ["download", "split", "tokenize", "train[pooling=cls]", "evaluate[pooling=cls]"] {
        assert_eq!(statuses[shared], "cached", "{shared} should come from tiny.yaml's run: {statuses:?}");
    }
    assert_eq!(statuses["train[pooling=mean]"], "ran");
    let summary = std::fs::read_to_string(t.artifact_dir("ablate").join("ablation_summary.md")).unwrap();
    assert!(summary.contains("pooling=mean") || summary.contains("mean"), "{summary}");
}

#[test]
fn a_partial_compare_with_shows_what_it_gives_and_needs_its_label() {
    let t = study();
    t.run(&["run", "p.yaml", "--set", "report.compare_with={label: x, accuracy: 0.5}"]).success();
    let report = std::fs::read_to_string(t.artifact_dir("report").join("report.md")).unwrap();
    let row =
        |label: &str| report.lines().find(|l| l.starts_with(&format!("| {label} |"))).unwrap_or_default().to_string();
    assert!(report.contains("|  | this run | x |"), "{report}");
    assert!(row("test accuracy").ends_with("| 50.00% |"), "{}", row("test accuracy"));
    // Not the seed report's 0.9042 under the user's label.
    assert!(row("F1 (positive class)").ends_with("| — |"), "{}", row("F1 (positive class)"));
    t.run(&["run", "p.yaml", "--set", "report.compare_with={accuracy: 0.5}"])
        .code(2)
        .stderr_has("stage `report`: invalid params (report): `compare_with`: expected {label, accuracy, f1, brier, ece}: missing field `label`");
}

#[test]
fn a_warmup_covering_the_only_step_is_a_warning_on_stderr() {
    let t = study();
    t.run(&["run", "p.yaml", "--stage", "train", "--set", "train.batch_size=100000"])
        .success()
        .stderr_has("warning: stage `train`: the warmup (`warmup_ratio` 0.06 of 1 step(s), rounded up: 1) covers every optimizer step")
        .stderr_has("no weight is updated");
}
