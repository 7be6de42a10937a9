//! The predict core on a model directory saved from the tiny-bert fixture
//! (random weights: these tests check the mechanics, not the sentiment).

use std::path::{Path, PathBuf};

use pipe_stages::model::{Classifier, ModelOptions, Pooling, Precision, Quantize};
use pipe_stages::predict::{Predictor, DEFAULT_IG_STEPS, DEFAULT_MAX_LEN};
use pipe_stages::testkit::{fixture_snapshot, use_offline_hub};

/// A model directory as the train stage writes it, with the given pooling.
fn model_dir(root: &Path, pooling: Pooling) -> PathBuf {
    use_offline_hub();
    let opts = ModelOptions { pooling, ..ModelOptions::default() };
    let model = Classifier::from_hub("pipe-fixtures/tiny-bert", "main", &opts, 42).unwrap();
    let dir = root.join(format!("model-{}", pooling.name()));
    model.save_hf_dir(&dir, &[fixture_snapshot("pipe-fixtures/tiny-bert").join("tokenizer.json")]).unwrap();
    dir
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn predictions_are_distributions_over_the_saved_labels_and_independent_of_batching() {
    let tmp = tempfile::tempdir().unwrap();
    let predictor =
        Predictor::load(&model_dir(tmp.path(), Pooling::Cls), DEFAULT_MAX_LEN, Precision::Fp32, Quantize::None)
            .unwrap();
    let sentences = texts(&["a gorgeous, witty film", "a dull, lifeless mess", "it is not bad at all"]);
    let all = predictor.predict(&sentences, 3, DEFAULT_IG_STEPS).unwrap();
    assert_eq!(all.len(), 3);
    for (p, text) in all.iter().zip(&sentences) {
        assert_eq!(&p.text, text);
        assert!(p.label == "negative" || p.label == "positive", "{}", p.label);
        let sum: f32 = p.probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "{sum}");
        let best = if p.label == "positive" { 1 } else { 0 };
        assert_eq!(p.probability, p.probabilities[best]);
        assert!(p.probability >= 0.5);
        // Integrated gradients: the strongest words of the sentence, no [CLS]/[SEP], strongest
        // first whatever their sign.
        assert_eq!(p.top_tokens.len(), 3, "{:?}", p.top_tokens);
        assert!(
            p.top_tokens.iter().all(|t| !t.token.starts_with('[') && text.contains(t.token.trim_start_matches("##"))),
            "{:?}",
            p.top_tokens
        );
        assert!(p.top_tokens.windows(2).all(|w| w[0].score.abs() >= w[1].score.abs()), "{:?}", p.top_tokens);
    }
    // Padding in a batch must not change a sentence's prediction.
    for (i, sentence) in sentences.iter().enumerate() {
        let alone = predictor.predict(std::slice::from_ref(sentence), 0, DEFAULT_IG_STEPS).unwrap();
        assert!((alone[0].probabilities[1] - all[i].probabilities[1]).abs() < 1e-5, "{sentence}");
    }
}

#[test]
fn long_input_is_truncated_and_mean_pooling_is_restored_from_the_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path(), Pooling::Mean);
    let predictor = Predictor::load(&dir, 16, Precision::Fp32, Quantize::None).unwrap();
    // Far longer than the fixture's position table: only truncation makes this work.
    let long = vec!["good ".repeat(2000)];
    let p = predictor.predict(&long, 0, DEFAULT_IG_STEPS).unwrap();
    assert_eq!(p.len(), 1);
    // Truncation to 16 tokens: the same as the first 14 words ([CLS] and [SEP] added).
    let short = predictor.predict(&["good ".repeat(14)], 0, DEFAULT_IG_STEPS).unwrap();
    assert!((p[0].probabilities[1] - short[0].probabilities[1]).abs() < 1e-6);
}

#[test]
fn empty_sentences_and_missing_models_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let predictor =
        Predictor::load(&model_dir(tmp.path(), Pooling::Cls), DEFAULT_MAX_LEN, Precision::Fp32, Quantize::None)
            .unwrap();
    let err =
        predictor.predict(&texts(&["fine", "   "]), 3, DEFAULT_IG_STEPS).expect_err("a blank sentence is an error");
    assert!(err.to_string().contains("sentence 2 has no tokens besides [CLS]/[SEP]"), "{err}");
    let err = Predictor::load(&tmp.path().join("nowhere"), DEFAULT_MAX_LEN, Precision::Fp32, Quantize::None)
        .err()
        .expect("no model there");
    assert!(err.to_string().contains("nowhere") && err.to_string().contains("not a model directory"), "{err}");
}
