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
