//! `pipe` at each SIMD level (`PIPE_SIMD`): a level that names none stops it
//! with exit 2, and the tiny study runs end to end at `avx2` and at `baseline`
//! (study.rs runs it at the CPU's own level), the same artifacts twice at a
//! level, with metrics near each other's. A level the CPU lacks is skipped with
//! a line saying why.

mod support;

use pipe_stages::simd::Level;
use pipe_stages::testkit::levels::{runs, say};
use serde_json::Value;
use support::{by_instance, Test};

const TINY: &str = include_str!("pipelines/tiny.yaml");

#[test]
fn a_misspelt_pipe_simd_stops_pipe_with_exit_2_and_a_level_runs() {
    let t = Test::new().pipeline("name: s\nstages:\n  a: {uses: shell, run: 'echo hi > a.txt', outs: [a.txt]}\n");
    for wrong in ["avx3", "avx-512", "sse"] {
        t.run_at(Some(wrong), &["run", "p.yaml"])
            .code(2)
            .stderr_has(&format!("PIPE_SIMD=\"{wrong}\" names no SIMD level; use one of baseline, avx2, avx512, amx"));
    }
    assert!(t.cache_entries("").is_empty(), "a misspelt level must stop pipe before it runs anything");
    // Any level is accepted, in any case, also one above the CPU's (it only caps the level).
    for level in ["avx2", "AVX2", "baseline", "amx"] {
        t.run_at(Some(level), &["run", "p.yaml"]).success();
    }
    assert_eq!(t.statuses()["a"], "cached");
}

#[test]
fn the_tiny_study_runs_at_avx2_and_baseline_reproducibly() {
    let levels: Vec<Level> =
        [Level::Avx2, Level::Baseline].into_iter().filter(|&l| runs("the tiny study", l)).collect();
    let mut metrics = vec![];
    for &level in &levels {
        let run = |jobs: &str| {
            let t = Test::new().pipeline(TINY);
            t.run_at(Some(level.name()), &["run", "p.yaml", "-j", jobs]).success().stdout_has("9 ran");
            t
        };
        let first = run("2");
        // At the first level (the commonest CPU's), a second run in a fresh cache gives the same artifacts.
        if level == levels[0] {
            let second = run("1");
            let (a, b) =
                (by_instance(&first.last_record(), "artifact"), by_instance(&second.last_record(), "artifact"));
            assert_eq!(a, b, "two runs at {level} gave different artifacts");
        }
        metrics.push((level, headline_metrics(&first.last_record())));
        if level == Level::Baseline {
            // int8 runs its SSE2 kernel there, faster than fp32: no warning.
            let int8 = first.run_at(Some("baseline"), &["run", "p.yaml", "--set", "evaluate.quantize=int8"]).success();
            assert!(!int8.stderr.contains("warning"), "{}", int8.stderr);
        }
    }
    for (level, [accuracy, train_loss, nll]) in &metrics {
        assert!((0.45..=1.0).contains(accuracy), "test accuracy {accuracy} at {level}");
        assert!((0.0..1.0).contains(train_loss) && (0.0..1.0).contains(nll), "losses {train_loss}, {nll} at {level}");
    }
    // Products may round differently at each level; the models they train may not drift apart.
    for pair in metrics.windows(2) {
        let ((a, at_a), (b, at_b)) = (pair[0], pair[1]);
        assert!(
            at_a.iter().zip(at_b).all(|(x, y)| (x - y).abs() <= 0.02),
            "test accuracy, train loss and test NLL {at_a:?} at {a} but {at_b:?} at {b}"
        );
    }
    for (level, [accuracy, train_loss, nll]) in metrics {
        say(&format!(
            "the tiny study at {level}: test accuracy {accuracy:.4}, train loss {train_loss:.4}, test NLL {nll:.4}"
        ));
    }
}

/// Test accuracy (evaluate), training loss (train) and test NLL (calibrate) in a run record.
fn headline_metrics(record: &Value) -> [f64; 3] {
    let stages = record["stages"].as_array().expect("stages in the run record");
    let metric = |stage: &str, name: &str| {
        let entry = stages.iter().find(|s| s["instance"] == stage).unwrap_or_else(|| panic!("no {stage}: {record}"));
        entry["metrics"][name].as_f64().unwrap_or_else(|| panic!("no {stage} {name}: {entry}"))
    };
    [metric("evaluate", "accuracy"), metric("train", "train_loss"), metric("calibrate", "nll")]
}
