//! Classifying free text with a trained model directory (the train stage's
//! `model/`: config.json, model.safetensors, tokenizer.json): the core of
//! `pipe predict`. The CLI finds the directory and prints; this computes the
//! label, its probability and the words that drove it (integrated gradients).

use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use tokenizers::Tokenizer;

use crate::model::{Precision, Quantize};
use crate::viz::integrated_gradients::Attribution;
use crate::viz::subject::{Encoded, Subject};
use crate::StageError;

/// How much of each sentence is read, as in the tokenize stage.
pub const DEFAULT_MAX_LEN: usize = 128;
/// Integrated-gradients interpolation steps, as in the visualize stage of final.yaml.
pub const DEFAULT_IG_STEPS: usize = 50;
/// The most integrated-gradients steps taken: the trapezoid rule's error falls as
/// 1/steps², so more only costs time (each step is a forward and backward pass).
pub const MAX_IG_STEPS: usize = 1000;
/// How many tokens of each sentence are listed.
pub const DEFAULT_TOP_K: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error("max_len {max_len} is more than the model's {limit} positions (max_position_embeddings)")]
    MaxLen { max_len: usize, limit: usize },
    #[error("ig_steps {steps} is more than the limit of {MAX_IG_STEPS}")]
    IgSteps { steps: usize },
    /// Sentence `index` (from 0) tokenizes to nothing but the special tokens.
    #[error("sentence {} has no tokens besides [CLS]/[SEP]: give some text to classify", index + 1)]
    NoTokens { index: usize },
    #[error(transparent)]
    Stage(#[from] StageError),
}

/// A token and its integrated-gradients attribution toward the predicted label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenScore {
    pub token: String,
    pub score: f32,
}

/// How well the attribution converged: completeness says the scores of all tokens
/// ([CLS]/[SEP] included) add up to F(x) - F(baseline); the gap is how far they miss,
/// as the visualize stage reports it in attributions.json.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Convergence {
    pub steps: usize,
    /// F(x): the predicted label's probability for the sentence.
    pub f_input: f64,
    /// F(baseline): that probability for the `[PAD]` baseline.
    pub f_baseline: f64,
    /// |Σ scores - (F(x) - F(baseline))|.
    pub completeness_gap: f64,
    /// The gap as a fraction of |F(x) - F(baseline)| (null when they are equal).
    pub relative_gap: f64,
}

impl From<&Attribution> for Convergence {
    fn from(a: &Attribution) -> Convergence {
        Convergence {
            steps: a.steps,
            f_input: a.f_input,
            f_baseline: a.f_baseline,
            completeness_gap: a.completeness_gap(),
            relative_gap: a.relative_gap(),
        }
    }
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
    /// Tokens read ([CLS] and [SEP] included): `tokens_total` cut to max_len.
    pub tokens_kept: usize,
    /// Tokens the whole sentence has ([CLS] and [SEP] included).
    pub tokens_total: usize,
    /// The tokens with the largest attribution of either sign (positive: toward the
    /// predicted label), strongest first (special tokens left out); empty when `top_k` is 0.
    pub top_tokens: Vec<TokenScore>,
    /// The attribution's convergence; None when `top_k` is 0.
    pub integrated_gradients: Option<Convergence>,
}

/// A model directory loaded once for many sentences.
pub struct Predictor {
    subject: Subject,
    /// The same tokenizer uncut: how many tokens truncation dropped.
    whole: Tokenizer,
    labels: Vec<String>,
}

impl Predictor {
    /// Loads `dir`; sentences are truncated to `max_len` tokens ([CLS] .. [SEP] kept),
    /// at most the model's positions, and the dense layers' products run in `precision`.
    /// With `quantize`, they run on int8 weights; the attributions then take the f32
    /// weights' gradient (see `kernels::int8`).
    pub fn load(
        dir: &Path,
        max_len: usize,
        precision: Precision,
        quantize: Quantize,
    ) -> Result<Predictor, PredictError> {
        if !dir.join("config.json").is_file() {
            return Err(StageError::Input(format!(
                "{}: not a model directory (no config.json); give the train stage's `model/` directory",
                dir.display()
            ))
            .into());
        }
        let subject = Subject::from_dir(dir, max_len, precision, quantize)?;
        let limit = subject.model.config().max_positions;
        if max_len > limit {
            return Err(PredictError::MaxLen { max_len, limit });
        }
        let whole = subject.uncut_tokenizer()?;
        let labels = labels(&subject.model.config().raw, dir)?;
        Ok(Predictor { subject, whole, labels })
    }

    /// Classifies every sentence and explains each with `ig_steps` of integrated
    /// gradients (skipped when `top_k` is 0). A sentence without tokens is an error naming its index.
    pub fn predict(
        &self,
        sentences: &[String],
        top_k: usize,
        ig_steps: usize,
    ) -> Result<Vec<Prediction>, PredictError> {
        if ig_steps > MAX_IG_STEPS {
            return Err(PredictError::IgSteps { steps: ig_steps });
        }
        let encoded = sentences.iter().map(|s| self.subject.encode(s)).collect::<Result<Vec<_>, _>>()?;
        // Blank, zero-width or control-only text reaches the model as [CLS][SEP]: no sentence.
        if let Some(index) = encoded.iter().position(|e| e.special.iter().all(|&s| s)) {
            return Err(PredictError::NoTokens { index });
        }
        let rows: Vec<Vec<u32>> = encoded.iter().map(|e| e.ids.clone()).collect();
        let logits = self.subject.model.predict_logits(&rows, 32).map_err(StageError::from)?;
        sentences
            .iter()
            .zip(&encoded)
            .zip(logits)
            .map(|((text, encoded), logits)| {
                let probabilities = softmax(&logits);
                // Ties go to the first label, as argmax does everywhere else in the study.
                let best = usize::from(probabilities[1] > probabilities[0]);
                let attribution = match top_k {
                    0 => None,
                    _ => Some(self.subject.integrated_gradients(encoded, best, ig_steps)?),
                };
                let whole = self
                    .whole
                    .encode(text.as_str(), true)
                    .map_err(|e| StageError::Failed(format!("tokenizing {text:?}: {e}")))?;
                Ok(Prediction {
                    text: text.clone(),
                    label: self.labels[best].clone(),
                    probability: probabilities[best],
                    probabilities,
                    logits: logits.to_vec(),
                    tokens_kept: encoded.ids.len(),
                    tokens_total: whole.len(),
                    top_tokens: attribution.as_ref().map_or_else(Vec::new, |a| strongest(encoded, a, top_k)),
                    integrated_gradients: attribution.as_ref().map(Convergence::from),
                })
            })
            .collect()
    }
}

/// The `k` non-special tokens with the largest |score|, strongest first: a token
/// pushing hard away from the label says as much as one pushing toward it.
fn strongest(encoded: &Encoded, attribution: &Attribution, k: usize) -> Vec<TokenScore> {
    let mut scored: Vec<TokenScore> = encoded
        .tokens
        .iter()
        .zip(&encoded.special)
        .zip(&attribution.scores)
        .filter(|((_, &special), _)| !special)
        .map(|((token, _), &score)| TokenScore { token: token.clone(), score })
        .collect();
    // Stable: equal strengths keep sentence order.
    scored.sort_by(|a, b| b.score.abs().total_cmp(&a.score.abs()));
    scored.truncate(k);
    scored
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strongest_ranks_by_magnitude_of_either_sign() {
        let encoded = Encoded {
            ids: vec![101, 1, 2, 3, 4, 102],
            tokens: ["[CLS]", "not", "bad", "at", "all", "[SEP]"].map(String::from).to_vec(),
            special: vec![true, false, false, false, false, true],
        };
        let attribution = Attribution {
            scores: vec![0.9, 0.542, -0.702, 0.086, 0.157, -0.9],
            target: 1,
            f_input: 0.9,
            f_baseline: 0.5,
            steps: 50,
        };
        let got: Vec<(String, f32)> =
            strongest(&encoded, &attribution, 3).into_iter().map(|t| (t.token, t.score)).collect();
        assert_eq!(got, [("bad".into(), -0.702), ("not".into(), 0.542), ("all".into(), 0.157)]);
    }
}
