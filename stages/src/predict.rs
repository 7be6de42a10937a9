//! Classifying free text with a trained model directory (the train stage's
//! `model/`: config.json, model.safetensors, tokenizer.json): the core of
//! `pipe predict`. The CLI finds the directory and prints; this loads and computes.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use tokenizers::{Tokenizer, TruncationParams};

use crate::model::{Classifier, HeadOptions, ModelConfig, Pooling};
use crate::StageError;

/// How much of each sentence is read, as in the tokenize stage.
pub const DEFAULT_MAX_LEN: usize = 128;

/// The prediction for one sentence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub text: String,
    /// The predicted label's name (config.json `id2label`).
    pub label: String,
    /// Softmax probability of the predicted label.
    pub probability: f32,
    /// Probability of each label, by label id.
    pub probabilities: Vec<f32>,
}

/// A model directory loaded once for many sentences.
pub struct Predictor {
    model: Classifier,
    tokenizer: Tokenizer,
    labels: Vec<String>,
    dir: PathBuf,
}

impl Predictor {
    /// Loads `dir`; sentences are truncated to `max_len` tokens ([CLS] .. [SEP] kept).
    pub fn load(dir: &Path, max_len: usize) -> Result<Predictor, StageError> {
        if !dir.join("config.json").is_file() {
            return Err(StageError::Input(format!(
                "{}: not a model directory (no config.json); give the train stage's `model/` directory",
                dir.display()
            )));
        }
        let config = ModelConfig::read(&dir.join("config.json"))?;
        let opts = HeadOptions { pooling: pooling(&config.raw, dir)?, ..HeadOptions::default() };
        let model = Classifier::from_dir(dir, &opts)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let bad = |e: &dyn std::fmt::Display| StageError::Input(format!("{}: not a usable tokenizer: {e}", tokenizer_path.display()));
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| bad(&e))?;
        // One sentence at a time: no padding; truncation keeps the special tokens.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_len, ..Default::default() }))
            .map_err(|e| bad(&e))?;
        Ok(Predictor { labels: labels(&config.raw, dir)?, model, tokenizer, dir: dir.to_path_buf() })
    }

    /// Classifies every sentence. An empty (or blank) sentence is an error naming its position.
    pub fn predict(&self, sentences: &[String]) -> Result<Vec<Prediction>, StageError> {
        if let Some(i) = sentences.iter().position(|s| s.trim().is_empty()) {
            return Err(StageError::Data(format!(
                "sentence {} is empty: give some text to classify (one sentence per line with `-`)",
                i + 1
            )));
        }
        let rows = sentences
            .iter()
            .map(|s| {
                let encoding = self.tokenizer.encode(s.as_str(), true).map_err(|e| {
                    StageError::Data(format!("cannot tokenize {s:?} with {}/tokenizer.json: {e}", self.dir.display()))
                })?;
                Ok(encoding.get_ids().to_vec())
            })
            .collect::<Result<Vec<_>, StageError>>()?;
        let logits = self.model.predict_logits(&rows, 32)?;
        Ok(sentences.iter().zip(logits).map(|(text, l)| self.prediction(text, &l)).collect())
    }

    fn prediction(&self, text: &str, logits: &[f32; 2]) -> Prediction {
        let max = logits[0].max(logits[1]);
        let exp = logits.map(|l| (l - max).exp());
        let probabilities: Vec<f32> = exp.iter().map(|e| e / (exp[0] + exp[1])).collect();
        // Ties go to the first label, as argmax does everywhere else in the study.
        let best = if probabilities[1] > probabilities[0] { 1 } else { 0 };
        Prediction { text: text.to_string(), label: self.labels[best].clone(), probability: probabilities[best], probabilities }
    }
}

/// The pooling the model was trained with (recorded by `save_hf_dir`; CLS when absent).
fn pooling(raw: &Value, dir: &Path) -> Result<Pooling, StageError> {
    match raw.get("pipe_pooling") {
        None => Ok(Pooling::Cls),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            StageError::Input(format!("{}/config.json: `pipe_pooling` {v}: {e}", dir.display()))
        }),
    }
}

/// Label names by id from config.json `id2label` (`LABEL_0`-style names when absent).
fn labels(raw: &Value, dir: &Path) -> Result<Vec<String>, StageError> {
    (0..crate::model::NUM_LABELS)
        .map(|i| match raw.get("id2label") {
            None => Ok(format!("LABEL_{i}")),
            Some(map) => map.get(i.to_string()).and_then(Value::as_str).map(String::from).ok_or_else(|| {
                StageError::Input(format!("{}/config.json: `id2label` has no name for label {i}", dir.display()))
            }),
        })
        .collect()
}
