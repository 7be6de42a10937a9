//! The ablate stage on hand-made evaluate/calibrate/train artifacts of a 2x2 matrix.

use std::collections::BTreeMap;
use std::path::Path;

use pipe_stages::testkit::run_stage;
use pipe_stages::Input;
use serde_json::{json, Value};

fn input(kind: &str, pooling: &str, dropout: f64, metrics: Value, dir: &Path) -> Input {
    let matrix = BTreeMap::from([("dropout".to_string(), json!(dropout)), ("pooling".to_string(), json!(pooling))]);
    Input {
        stage: kind.into(),
        kind: kind.into(),
        instance: format!("{kind}[dropout={},pooling={pooling}]", json!(dropout)),
        matrix,
        params: json!({}),
        dir: dir.to_path_buf(),
        metrics,
    }
}

/// Four variants on 872 test sentences: cls/0.0 is one example better than the
/// reference cls/0.1, mean/0.1 ties with the reference, mean/0.0 is six worse.
fn variants(dir: &Path) -> Vec<Input> {
    let mut inputs = Vec::new();
    for (pooling, dropout, correct, f1, ece, dev_loss) in [
        ("cls", 0.1, 786, 0.9042, 0.0594, 0.251),
        ("cls", 0.0, 787, 0.9050, 0.0610, 0.262),
        ("mean", 0.1, 786, 0.9031, 0.0402, 0.248),
        ("mean", 0.0, 780, 0.8990, 0.0711, 0.270),
    ] {
        let accuracy = correct as f64 / 872.0;
        inputs.push(input("evaluate", pooling, dropout, json!({"accuracy": accuracy, "f1": f1, "n": 872}), dir));
        inputs.push(input("calibrate", pooling, dropout, json!({"ece": ece, "ece_scaled": 0.02}), dir));
        inputs.push(input("train", pooling, dropout, json!({"best_dev_loss": dev_loss}), dir));
    }
    inputs
}

fn reference() -> Value {
    json!({"reference": {"pooling": "cls", "dropout": 0.1}})
}

#[test]
fn summary_ranks_variants_shows_the_tie_and_deltas_against_the_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ablate");
    let ran = run_stage("ablate", reference(), variants(tmp.path()), &out, 42).unwrap();

    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("ablation_summary.json")).unwrap()).unwrap();
    let rows = summary["rows"].as_array().unwrap();
    let order: Vec<(&str, u64, bool, bool)> = rows
        .iter()
        .map(|r| (r["matrix"]["pooling"].as_str().unwrap(), r["rank"].as_u64().unwrap(), r["tied"].as_bool().unwrap(), r["reference"].as_bool().unwrap()))
        .collect();
    assert_eq!(order, [("cls", 1, false, false), ("cls", 2, true, true), ("mean", 2, true, false), ("mean", 4, false, false)]);
    assert_eq!(rows[0]["matrix"]["dropout"], json!(0.0));
    let delta = |i: usize| rows[i]["delta_accuracy_pp"].as_f64().unwrap();
    assert!((delta(0) - 100.0 / 872.0).abs() < 1e-9, "one example better: {}", delta(0));
    assert_eq!(delta(1), 0.0);
    assert_eq!(delta(2), 0.0, "the tie with the reference");
    assert!((delta(3) + 600.0 / 872.0).abs() < 1e-9);
    assert!((rows[3]["delta_f1_pp"].as_f64().unwrap() - (0.8990 - 0.9042) * 100.0).abs() < 1e-9);
    assert_eq!(rows[2]["ece"], json!(0.0402), "ECE comes from the calibrate artifact of the same variant");
    assert_eq!(rows[3]["dev_loss"], json!(0.270), "dev loss comes from the train artifact of the same variant");
    assert_eq!(rows[1]["correct"], json!(786));

    let md = std::fs::read_to_string(out.join("ablation_summary.md")).unwrap();
    assert!(md.contains("| 2 (tie) ref | 0.1 | cls | 0.9014 | 786/872 | 0.000 |"), "{md}");
    assert!(md.contains("| 2 (tie) | 0.1 | mean |"), "{md}");
    assert!(md.contains("| 1 | 0.0 | cls | 0.9025 | 787/872 | +0.115 |"), "{md}");
    assert!(md.contains("100/872 = 0.115 pp"), "footer states what one example is worth: {md}");

    let csv = std::fs::read_to_string(out.join("ablation_summary.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert_eq!(lines[0], "instance,dropout,pooling,accuracy,correct,n,f1,ece,dev_loss,delta_accuracy_pp,delta_f1_pp,rank,tied,reference");
    assert!(lines[2].starts_with("\"evaluate[dropout=0.1,pooling=cls]\",0.1,cls,0.9013761467889908,786,872,"), "{csv}");
    assert!(lines[2].ends_with(",2,true,true"), "{csv}");

    let png = std::fs::read(out.join("ablation.png")).expect("ablation.png is written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(ran.metrics["variants"], json!(4));
    assert_eq!(ran.metrics["tied_variants"], json!(2));
    assert_eq!(ran.metrics["best_accuracy"], json!(787.0 / 872.0));

    // Same inputs, same bytes.
    let again = tmp.path().join("again");
    run_stage("ablate", reference(), variants(tmp.path()), &again, 42).unwrap();
    for name in ["ablation_summary.json", "ablation_summary.csv", "ablation_summary.md", "ablation.png"] {
        assert_eq!(std::fs::read(out.join(name)).unwrap(), std::fs::read(again.join(name)).unwrap(), "{name}");
    }
}

#[test]
fn without_calibrate_and_train_the_optional_columns_are_dashes() {
    let tmp = tempfile::tempdir().unwrap();
    let evaluate_only: Vec<Input> = variants(tmp.path()).into_iter().filter(|i| i.kind == "evaluate").collect();
    let out = tmp.path().join("ablate");
    run_stage("ablate", reference(), evaluate_only, &out, 42).unwrap();
    let md = std::fs::read_to_string(out.join("ablation_summary.md")).unwrap();
    assert!(md.contains("| 0.9042 | 0.000 | — | — |"), "{md}");
}

#[test]
fn a_reference_that_matches_no_variant_is_a_param_error_listing_the_variants() {
    let tmp = tempfile::tempdir().unwrap();
    let err = run_stage("ablate", json!({"reference": {"pooling": "max"}}), variants(tmp.path()), &tmp.path().join("a"), 42).err().expect("the stage must fail");
    assert!(err.is_config(), "{err}");
    let text = err.to_string();
    assert!(text.contains("pooling=max") && text.contains("evaluate[dropout=0.0,pooling=mean]"), "{text}");
    let err = run_stage("ablate", json!({"reference": {"pooling": "cls"}}), variants(tmp.path()), &tmp.path().join("b"), 42).err().expect("the stage must fail");
    assert!(err.to_string().contains("several variants"), "{err}");
}

#[test]
fn a_missing_metric_names_the_upstream_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = vec![input("evaluate", "cls", 0.1, json!({"accuracy": 0.9, "n": 872}), tmp.path())];
    let err = run_stage("ablate", reference(), inputs, &tmp.path().join("a"), 42).err().expect("the stage must fail");
    let text = err.to_string();
    assert!(text.contains("`f1`") && text.contains("evaluate[dropout=0.1,pooling=cls]"), "{text}");
}
