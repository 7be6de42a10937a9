//! The visualize stage and integrated gradients on the tiny random-init fixture
//! (pipe-fixtures/tiny-bert in ../shared/hf).

use std::path::Path;

use pipe_stages::testkit::run_stage;
use pipe_stages::viz::subject::attribute_text;
use serde_json::{json, Value};

mod viz_common;
use viz_common::{tiny_bert, upstream};

#[test]
fn integrated_gradients_are_complete_at_50_steps_on_the_tiny_fixture() {
    for text in ["the film is not bad , but it is n't good either .", "a gorgeous , witty , seductive movie ."] {
        let (encoded, ig) = attribute_text(&tiny_bert(), text, 128, 50).unwrap();
        assert_eq!(ig.scores.len(), encoded.ids.len());
        assert_eq!(encoded.tokens.first().map(String::as_str), Some("[CLS]"));
        assert_eq!(encoded.tokens.last().map(String::as_str), Some("[SEP]"));
        let change = (ig.f_input - ig.f_baseline).abs();
        eprintln!(
            "{text:?}: F(x) {} F(x') {} sum {} gap {:.3e} = {:.4}% of |F(x) - F(x')| = {change:.3e}",
            ig.f_input,
            ig.f_baseline,
            ig.scores.iter().map(|&s| f64::from(s)).sum::<f64>(),
            ig.completeness_gap(),
            100.0 * ig.relative_gap()
        );
        assert!(change > 0.0, "input and baseline score the same: nothing to attribute");
        assert!(ig.relative_gap() < 0.05, "completeness gap {} of {change}", ig.completeness_gap());
    }
}

#[test]
fn truncates_to_max_len_keeping_cls_and_sep() {
    let (encoded, ig) = attribute_text(&tiny_bert(), "one two three four five six", 4, 5).unwrap();
    assert_eq!(encoded.tokens, ["[CLS]", "one", "two", "[SEP]"]);
    assert_eq!(ig.scores.len(), 4);
}

#[test]
fn visualize_draws_every_figure_and_is_deterministic() {
    let root = tempfile::tempdir().unwrap();
    let inputs = upstream(root.path());
    let with = json!({"per_category": 2, "ig_steps": 20});
    let a = run_stage("visualize", with.clone(), inputs.clone(), &root.path().join("a"), 42).unwrap();
    let b = run_stage("visualize", with, inputs, &root.path().join("b"), 42).unwrap();

    let expected = [("negation", 1, 0), ("negation", 2, 3), ("contrast", 1, 1), ("failure", 1, 2), ("failure", 2, 1)];
    let doc: Value = serde_json::from_slice(&std::fs::read(a.dir.join("attributions.json")).unwrap()).unwrap();
    let examples = doc["examples"].as_array().unwrap();
    let got: Vec<(String, u64, u64)> = examples
        .iter()
        .map(|e| (e["category"].as_str().unwrap().to_string(), e["k"].as_u64().unwrap(), e["idx"].as_u64().unwrap()))
        .collect();
    let want: Vec<(String, u64, u64)> = expected.iter().map(|&(c, k, i)| (c.to_string(), k, i)).collect();
    assert_eq!(got, want);

    for e in examples {
        let t = e["tokens"].as_array().unwrap().len();
        assert_eq!(e["rollout"].as_array().unwrap().len(), t);
        assert_eq!(e["ig"]["scores"].as_array().unwrap().len(), t);
        assert_eq!(e["attention_last_layer_mean"].as_array().unwrap().len(), t);
        let layers = e["attention"].as_array().unwrap();
        assert_eq!((layers.len(), layers[0].as_array().unwrap().len()), (2, 4), "tiny-bert: 2 layers x 4 heads");
        let rollout_total: f64 = e["rollout"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((rollout_total - 1.0).abs() < 1e-4, "rollout row sums to {rollout_total}");
        for kind in ["attention", "layers", "rollout", "ig"] {
            let rel = e["figures"][kind].as_str().unwrap();
            let png = std::fs::read(a.dir.join(rel)).unwrap();
            assert_eq!(&png[1..4], b"PNG", "{rel}");
            assert_eq!(png, std::fs::read(b.dir.join(rel)).unwrap(), "{rel} differs between identical runs");
        }
    }
    assert_eq!(
        std::fs::read(a.dir.join("attributions.json")).unwrap(),
        std::fs::read(b.dir.join("attributions.json")).unwrap()
    );
    assert_eq!(a.metrics["examples"], json!(5));
    assert_eq!(a.metrics["contrast_examples"], json!(1));
    assert!(a.metrics["ig_max_relative_gap"].as_f64().unwrap().is_finite(), "{:?}", a.metrics);
}

#[test]
fn visualize_names_a_missing_model() {
    let root = tempfile::tempdir().unwrap();
    let inputs = upstream(root.path());
    std::fs::remove_file(inputs[0].dir.join("model/model.safetensors")).unwrap();
    let err = run_stage("visualize", json!({}), inputs, &root.path().join("out"), 1)
        .err()
        .expect("a missing model fails")
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

/// IG on a trained model (not available offline): point PIPE_TRAINED_MODEL at a train
/// artifact's `model/` directory and run `cargo test -p pipe-stages --test viz -- --ignored`.
#[test]
#[ignore = "needs a trained model: set PIPE_TRAINED_MODEL to a train artifact's model/ directory"]
fn a_trained_model_credits_the_sentiment_words_of_a_polar_sentence() {
    let dir =
        std::env::var_os("PIPE_TRAINED_MODEL").expect("set PIPE_TRAINED_MODEL to a train artifact's model/ directory");
    let (encoded, ig) = attribute_text(Path::new(&dir), "a gorgeous , witty , seductive movie .", 128, 50).unwrap();
    let scored: Vec<(String, f32)> = encoded.tokens.iter().cloned().zip(ig.scores.iter().copied()).collect();
    eprintln!(
        "{scored:?}\nF(x) {} F(x') {} gap {:.3e} ({:.3}%)",
        ig.f_input,
        ig.f_baseline,
        ig.completeness_gap(),
        100.0 * ig.relative_gap()
    );
    assert_eq!(ig.target, 1, "predicted negative for a clearly positive sentence");
    assert!(ig.relative_gap() < 0.05, "completeness gap {:.3}% at 50 steps", 100.0 * ig.relative_gap());
    let (top, _) = scored.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    let piece = top.trim_start_matches("##");
    assert!(
        ["gorgeous", "witty", "seductive"].iter().any(|w| w.contains(piece)) && piece.len() > 2,
        "strongest positive attribution on {top:?}"
    );
}
