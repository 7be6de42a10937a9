//! Classifying free text with a trained model directory (the train stage's
//! `model/`: config.json, model.safetensors, tokenizer.json): the core of
//! `pipe predict`. The CLI finds the directory and prints; this computes the
//! label, its probability and the words that drove it (integrated gradients).

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::model::{Precision, Quantize};
use crate::viz::subject::Subject;
use crate::StageError;

/// How much of each sentence is read, as in the tokenize stage.
pub const DEFAULT_MAX_LEN: usize = 128;
/// Integrated-gradients interpolation steps, as in the visualize stage of final.yaml.
pub const DEFAULT_IG_STEPS: usize = 50;
/// How many tokens of each sentence are listed.
pub const DEFAULT_TOP_K: usize = 5;

/// A token and its integrated-gradients attribution toward the predicted label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenScore {
    pub token: String,
    pub score: f32,
}

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
    /// The classifier's raw scores, by label id (what transformers calls `logits`).
    pub logits: Vec<f32>,
    /// The tokens that raised the predicted label's probability most, strongest
    /// first (special tokens left out); empty when `top_k` is 0.
    pub top_tokens: Vec<TokenScore>,
}

/// A model directory loaded once for many sentences.
pub struct Predictor {
    subject: Subject,
    labels: Vec<String>,
}

impl Predictor {
    /// Loads `dir`; sentences are truncated to `max_len` tokens ([CLS] .. [SEP] kept),
    /// and the dense layers' products run in `precision`. With `quantize`, they run on
    /// int8 weights; the attributions then take the f32 weights' gradient (see `kernels::int8`).
    pub fn load(dir: &Path, max_len: usize, precision: Precision, quantize: Quantize) -> Result<Predictor, StageError> {
        if !dir.join("config.json").is_file() {
            return Err(StageError::Input(format!(
                "{}: not a model directory (no config.json); give the train stage's `model/` directory",
                dir.display()
            )));
        }
        let subject = Subject::from_dir(dir, max_len, precision, quantize)?;
        let labels = labels(&subject.model.config().raw, dir)?;
        Ok(Predictor { subject, labels })
    }

    /// Classifies every sentence and explains each with `ig_steps` of integrated
    /// gradients (skipped when `top_k` is 0). A blank sentence is an error naming its position.
    pub fn predict(&self, sentences: &[String], top_k: usize, ig_steps: usize) -> Result<Vec<Prediction>, StageError> {
        if let Some(i) = sentences.iter().position(|s| s.trim().is_empty()) {
            return Err(StageError::Data(format!(
                "sentence {} is empty: give some text to classify (one sentence per line with `-`)",
                i + 1
            )));
        }
        let encoded = sentences.iter().map(|s| self.subject.encode(s)).collect::<Result<Vec<_>, _>>()?;
        let rows: Vec<Vec<u32>> = encoded.iter().map(|e| e.ids.clone()).collect();
        let logits = self.subject.model.predict_logits(&rows, 32)?;
        sentences
            .iter()
            .zip(&encoded)
            .zip(logits)
            .map(|((text, encoded), logits)| {
                let probabilities = softmax(&logits);
                // Ties go to the first label, as argmax does everywhere else in the study.
                let best = usize::from(probabilities[1] > probabilities[0]);
                let top_tokens = if top_k == 0 {
                    Vec::new()
                } else {
                    let attribution = self.subject.integrated_gradients(encoded, best, ig_steps)?;
                    let mut scored: Vec<TokenScore> = encoded
                        .tokens
                        .iter()
                        .zip(&encoded.special)
                        .zip(&attribution.scores)
                        .filter(|((_, &special), _)| !special)
                        .map(|((token, _), &score)| TokenScore { token: token.clone(), score })
                        .collect();
                    // Stable: equal scores keep sentence order.
                    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
                    scored.truncate(top_k);
                    scored
                };
                Ok(Prediction {
                    text: text.clone(),
                    label: self.labels[best].clone(),
                    probability: probabilities[best],
                    probabilities,
                    logits: logits.to_vec(),
                    top_tokens,
                })
            })
            .collect()
    }
}

fn softmax(logits: &[f32; 2]) -> Vec<f32> {
    let max = logits[0].max(logits[1]);
    let exp = logits.map(|l| (l - max).exp());
    exp.iter().map(|e| e / (exp[0] + exp[1])).collect()
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
