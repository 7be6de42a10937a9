//! The calibrate, slice and evaluate stages run through the stage protocol on
//! hand-made upstream artifacts.

use std::path::Path;

use pipe_stages::data::examples::{write_jsonl, Example};
use pipe_stages::data::tokens::TokenizedSplit;
use pipe_stages::eval::logits::Logits;
use pipe_stages::eval::predictions::{read_csv, write_csv, Prediction};
use pipe_stages::eval::scores::Scored;
use pipe_stages::testkit::{run_stage, Ran};
use pipe_stages::Input;
use serde_json::{json, Value};

mod eval_common;

fn close(a: &Value, b: f64) {
    let a = a.as_f64().unwrap_or_else(|| panic!("{a} is not a number"));
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

/// An upstream artifact directory as the stage under test sees it.
fn input(kind: &str, dir: &Path, params: Value) -> Input {
    Ran { dir: dir.to_path_buf(), metrics: Default::default(), params }.as_input(kind)
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn calibrate_reports_hand_computed_metrics_and_the_known_temperature() {
    let scratch = eval_common::scratch("calibrate_reports_hand_computed_metrics_and_the_known_temperature");
    let evaluate = scratch.path.join("evaluate");
    std::fs::create_dir_all(&evaluate).unwrap();
    let l3 = 3f64.ln();
    // test: p_positive 0.75 (right), 0.75 (wrong), 0.1 (right), 0.5 (tie -> negative, wrong)
    let test = [([0.0, l3], 1), ([0.0, l3], 0), ([9f64.ln(), 0.0], 0), ([0.0, 0.0], 1)];
    // dev: margin 2, three of four right -> T = 2 / ln 3
    let dev = [([2.0, 0.0], 0), ([2.0, 0.0], 0), ([2.0, 0.0], 0), ([2.0, 0.0], 1)];
    let scored =
        |rows: &[([f64; 2], u8)]| rows.iter().map(|&(logits, label)| Scored { logits, label }).collect::<Vec<_>>();
    let logits = Logits::new(&scored(&test), &scored(&dev));
    std::fs::write(evaluate.join("logits.json"), serde_json::to_string(&logits).unwrap()).unwrap();

    let inputs = vec![input("evaluate", &evaluate, json!({}))];
    let ran = run_stage("calibrate", json!({"bins": 5}), inputs.clone(), &scratch.path.join("a"), 1).unwrap();
    let m = &ran.metrics;
    close(&m["brier"], (0.0625 + 0.5625 + 0.01 + 0.25) / 4.0);
    close(&m["ece"], 0.275);
    close(&m["mce"], 0.5);
    close(&m["nll"], -(0.75f64.ln() + 0.25f64.ln() + 0.9f64.ln() + 0.5f64.ln()) / 4.0);
    let t = m["temperature"].as_f64().unwrap();
    assert!((t - 2.0 / l3).abs() < 1e-3, "T = {t}");
    // Scaling by T > 1 keeps predictions and softens probabilities: the 0.75/0.25 pair
    // loses less than the 0.9 one gains, so NLL improves on this test set too.
    let p_pos = |l: f64| 1.0 / (1.0 + (-l / t).exp());
    let expected_brier = ((1.0 - p_pos(l3)).powi(2) + p_pos(l3).powi(2) + p_pos(-(9f64.ln())).powi(2) + 0.25) / 4.0;
    close(&m["brier_scaled"], expected_brier);
    assert!(m["nll_scaled"].as_f64().unwrap() < m["nll"].as_f64().unwrap());

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ran.dir.join("calibration.json")).unwrap()).unwrap();
    assert_eq!(report["bins"], 5);
    assert_eq!(report["test"]["before"]["bins"][0]["accuracy"], Value::Null, "empty bins are null, not NaN");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(ran.dir.join("temperature.json")).unwrap()).unwrap();
    assert_eq!(saved["temperature"].as_f64(), Some(t));
    for png in ["reliability.png", "reliability_scaled.png"] {
        assert!(std::fs::metadata(ran.dir.join(png)).unwrap().len() > 1000, "{png}");
    }
    let again = run_stage("calibrate", json!({"bins": 5}), inputs, &scratch.path.join("b"), 1).unwrap();
    assert_eq!(files(&ran.dir), files(&again.dir), "calibrate is not deterministic");

    let err = run_stage("calibrate", json!({"bins": 0}), vec![], &scratch.path.join("c"), 1).err().unwrap();
    assert!(err.is_config(), "{err}");
}

fn prediction(idx: u64, text: &str, label: u8, pred: u8) -> Prediction {
    let p_positive: f64 = if pred == 1 { 0.8 } else { 0.3 };
    Prediction {
        idx,
        text: text.into(),
        label,
        pred,
        p_negative: 1.0 - p_positive,
        p_positive,
        confidence: p_positive.max(1.0 - p_positive),
        correct: label == pred,
    }
}

#[test]
fn slice_scores_markers_and_length_buckets_with_complements() {
    let scratch = eval_common::scratch("slice_scores_markers_and_length_buckets_with_complements");
    let (evaluate, tokenize) = (scratch.path.join("evaluate"), scratch.path.join("tokenize"));
    std::fs::create_dir_all(&evaluate).unwrap();
    std::fs::create_dir_all(&tokenize).unwrap();
    let preds = vec![
        prediction(0, "it is not good", 0, 0),
        prediction(1, "good but long", 1, 0),
        prediction(2, "NOT bad , yet fine", 1, 1),
        prediction(3, "a fine film", 1, 1),
        prediction(4, "dull", 0, 1),
    ];
    write_csv(&evaluate.join("predictions.csv"), &preds).unwrap();
    // content lengths 4, 6, 12, 3, 1 (plus [CLS] and [SEP])
    let ids = [4usize, 6, 12, 3, 1].iter().map(|&n| std::iter::repeat_n(7u32, n + 2).collect()).collect();
    TokenizedSplit { ids, labels: vec![0, 1, 1, 1, 0] }.write(&tokenize.join("test.safetensors")).unwrap();

    let inputs = vec![input("evaluate", &evaluate, json!({})), input("tokenize", &tokenize, json!({}))];
    let ran = run_stage("slice", json!({}), inputs.clone(), &scratch.path.join("out"), 1).unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(ran.dir.join("slices.json")).unwrap()).unwrap();
    let rows = report["slices"].as_array().unwrap();
    let row = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no slice {name}"));
    close(&report["overall"]["accuracy"], 0.6);

    // negation: rows 0 and 2, both right
    assert_eq!(row("negation")["n"], 2);
    close(&row("negation")["accuracy"], 1.0);
    close(&row("negation")["drop"], -0.4);
    // no negation: rows 1, 3, 4: one right; tp=1, fp=1, fn=1 -> F1 0.5
    assert_eq!(row("no negation")["n"], 3);
    close(&row("no negation")["accuracy"], 1.0 / 3.0);
    close(&row("no negation")["f1"], 0.5);
    // contrast ("but", "yet"): rows 1 and 2, one right; labels all positive -> single class
    assert_eq!(row("contrast")["n"], 2);
    assert_eq!(row("contrast")["single_class"], true);
    // buckets: <=4 {0, 3, 4}, 5-8 {1}, 9-16 {2}, 17-32 {}, 33+ {}
    assert_eq!(row("length <=4")["n"], 3);
    assert_eq!(row("length 5-8")["n"], 1);
    assert_eq!(row("length 9-16")["n"], 1);
    assert_eq!(row("length 33+")["n"], 0);
    assert_eq!(row("length 33+")["accuracy"], Value::Null);
    assert_eq!(row("length 33+")["drop"], Value::Null);
    assert_eq!(row("length not 33+")["n"], 5);
    // n adds up: each slice plus its complement, and the buckets, make the whole split
    for r in rows.iter().filter(|r| r["complement"] == false) {
        let name = r["name"].as_str().unwrap();
        let complement = rows
            .iter()
            .find(|c| {
                c["family"] == r["family"]
                    && c["complement"] == true
                    && c["key"].as_str().unwrap().ends_with(r["key"].as_str().unwrap().trim_start_matches("length_"))
            })
            .unwrap();
        assert_eq!(r["n"].as_u64().unwrap() + complement["n"].as_u64().unwrap(), 5, "{name}");
    }
    let bucket_total: u64 = rows
        .iter()
        .filter(|r| r["family"] == "length" && r["complement"] == false)
        .map(|r| r["n"].as_u64().unwrap())
        .sum();
    assert_eq!(bucket_total, 5);
    let text = std::fs::read_to_string(ran.dir.join("slices.json")).unwrap();
    assert!(!text.contains("NaN"));
    assert_eq!(ran.metrics["length_33plus_accuracy"], Value::Null);
    close(&ran.metrics["negation_accuracy"], 1.0);
    assert!(std::fs::read_to_string(ran.dir.join("slices.md")).unwrap().contains("| length 33+ | 0 | 0 | – | – | – |"));
    assert_eq!(std::fs::read_to_string(ran.dir.join("slices.csv")).unwrap().lines().count(), 1 + rows.len());
    assert!(ran.dir.join("slices.png").is_file());

    // a custom list and bounds
    let ran = run_stage(
        "slice",
        json!({"negation": ["dull"], "length_bounds": [2]}),
        inputs.clone(),
        &scratch.path.join("custom"),
        1,
    )
    .unwrap();
    assert_eq!(ran.metrics["negation_n"], 1);
    assert_eq!(ran.metrics["length_le2_n"], 1);
    assert_eq!(ran.metrics["length_3plus_n"], 4);
    let err = run_stage("slice", json!({"length_bounds": [8, 4]}), inputs, &scratch.path.join("bad"), 1).err().unwrap();
    assert!(err.is_config(), "{err}");
}

#[test]
fn evaluate_scores_test_and_dev_with_a_saved_model() {
    use pipe_stages::model::{Classifier, ModelOptions};
    pipe_stages::testkit::use_offline_hub();
    let scratch = eval_common::scratch("evaluate_scores_test_and_dev_with_a_saved_model");
    let (train, tokenize, split) =
        (scratch.path.join("train"), scratch.path.join("tokenize"), scratch.path.join("split"));
    let model = Classifier::from_hub("pipe-fixtures/tiny-bert", "main", &ModelOptions::default(), 3).unwrap();
    model.save_hf_dir(&train.join("model"), &[]).unwrap();
    std::fs::create_dir_all(&tokenize).unwrap();
    std::fs::create_dir_all(&split).unwrap();
    for (name, n) in [("test", 24u64), ("dev", 10)] {
        let examples: Vec<Example> = (0..n)
            .map(|i| Example {
                idx: i,
                source: "validation".into(),
                text: if i % 3 == 0 { format!("not a film {i}") } else { format!("a film , but {i}") },
                label: Some((i % 2) as u8),
            })
            .collect();
        write_jsonl(&split.join(format!("{name}.jsonl")), &examples).unwrap();
        let ids = (0..n)
            .map(|i| {
                [101]
                    .into_iter()
                    .chain((0..(i % 7 + 1) as u32).map(|k| 1000 + 37 * k + i as u32))
                    .chain([102])
                    .collect()
            })
            .collect();
        let labels = examples.iter().map(|e| e.label.unwrap() as i64).collect();
        TokenizedSplit { ids, labels }.write(&tokenize.join(format!("{name}.safetensors"))).unwrap();
    }
    let inputs = vec![
        input("train", &train, json!({"pooling": "cls"})),
        input("tokenize", &tokenize, json!({})),
        input("split", &split, json!({})),
    ];
    let ran = run_stage("evaluate", json!({"batch_size": 5}), inputs.clone(), &scratch.path.join("a"), 1).unwrap();
    let preds = read_csv(&ran.dir.join("predictions.csv")).unwrap();
    assert_eq!(preds.len(), 24);
    assert_eq!(read_csv(&ran.dir.join("dev_predictions.csv")).unwrap().len(), 10);
    let correct = preds.iter().filter(|p| p.correct).count();
    close(&ran.metrics["accuracy"], correct as f64 / 24.0);
    assert_eq!(ran.metrics["n"], 24);
    let confusion = &ran.metrics["confusion"];
    let cells: u64 =
        confusion.as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap()).map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(cells, 24);
    assert_eq!(read_csv(&ran.dir.join("misclassified.csv")).unwrap().len(), 24 - correct);
    let errors: Value = serde_json::from_str(&std::fs::read_to_string(ran.dir.join("errors.json")).unwrap()).unwrap();
    assert_eq!(errors["n_errors"], 24 - correct as u64);
    assert_eq!(
        ran.metrics["false_positives"].as_u64().unwrap() + ran.metrics["false_negatives"].as_u64().unwrap(),
        24 - correct as u64
    );
    let logits = Logits::read(&ran.dir.join("logits.json")).unwrap();
    assert_eq!((logits.test.len(), logits.dev.len()), (24, 10));
    for (p, s) in preds.iter().zip(logits.test_scored()) {
        assert!((p.p_positive - s.p_positive()).abs() < 1e-12 && p.pred == s.pred());
    }
    for f in ["classification_report.json", "confusion_matrix.png", "errors.md"] {
        assert!(ran.dir.join(f).is_file(), "{f}");
    }
    // batch size changes only the batching, and the artifact is deterministic
    let again = run_stage("evaluate", json!({"batch_size": 5}), inputs.clone(), &scratch.path.join("b"), 1).unwrap();
    assert_eq!(files(&ran.dir), files(&again.dir), "evaluate is not deterministic");

    // the downstream stages accept what evaluate wrote
    let evaluated = input("evaluate", &ran.dir, json!({}));
    run_stage("calibrate", json!({}), vec![evaluated.clone()], &scratch.path.join("cal"), 1).unwrap();
    run_stage(
        "slice",
        json!({}),
        vec![evaluated, input("tokenize", &tokenize, json!({}))],
        &scratch.path.join("sl"),
        1,
    )
    .unwrap();

    // a model trained with other pooling is refused rather than run wrongly
    let mut wrong = inputs;
    wrong[0] = input("train", &train, json!({"pooling": "mean"}));
    assert!(run_stage("evaluate", json!({}), wrong, &scratch.path.join("c"), 1).is_err());
}
