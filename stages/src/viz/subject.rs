//! The model under study with its tokenizer, loaded from a saved HF model directory
//! (the train stage's `model/`): encodes a sentence, returns its attentions and its
//! integrated-gradients attribution.

use std::path::Path;

use candle_core::{DType, Tensor};
use tokenizers::{Tokenizer, TruncationParams};

use super::integrated_gradients::{integrated_gradients, Attribution};
use crate::data::tokenize::load_unpadded;
use crate::model::{Batch, Classifier, Mode, ModelOptions, Pooling, Precision, Quantize};
use crate::StageError;

/// Key of the saved config.json that records the head's pooling (written by the model's `save_hf_dir`).
const POOLING_KEY: &str = "pipe_pooling";

/// One tokenized sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// The tokenizer's token strings (`[CLS]`, `it`, `##s`, …), one per id.
    pub tokens: Vec<String>,
    /// True for the special tokens the tokenizer added ([CLS], [SEP]).
    pub special: Vec<bool>,
}

/// What the model says about one sentence in eval mode.
pub struct Seen {
    /// Softmax probabilities of the two classes.
    pub probs: [f32; 2],
    /// Per layer, first layer first: attention probabilities `[heads, t, t]`.
    pub attentions: Vec<Tensor>,
}

pub struct Subject {
    pub model: Classifier,
    tokenizer: Tokenizer,
    pub pooling: Pooling,
}

impl Subject {
    /// Loads `dir/config.json`, `dir/model.safetensors` and `dir/tokenizer.json`, with
    /// the pooling the model was trained with and its dense layers' products in
    /// `precision`, quantized as `quantize` says. Sentences are cut to `max_len` tokens
    /// ([CLS] … [SEP] kept), as the tokenize stage does.
    pub fn from_dir(
        dir: &Path,
        max_len: usize,
        precision: Precision,
        quantize: Quantize,
    ) -> Result<Subject, StageError> {
        if max_len < 2 {
            return Err(StageError::param("max_len", format!("must be at least 2 ([CLS] and [SEP]), got {max_len}")));
        }
        let pooling = saved_pooling(&dir.join("config.json"))?;
        let model =
            Classifier::from_dir(dir, &ModelOptions { pooling, precision, quantize, ..ModelOptions::default() })?;
        let path = dir.join("tokenizer.json");
        let (_, mut tokenizer) = load_unpadded(&path)?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_len, ..TruncationParams::default() }))
            .map_err(|e| StageError::Input(format!("{}: cannot truncate to {max_len} tokens: {e}", path.display())))?;
        Ok(Subject { model, tokenizer, pooling })
    }

    /// The same tokenizer without the cut to `max_len`: how many tokens a sentence has.
    pub fn uncut_tokenizer(&self) -> Result<Tokenizer, StageError> {
        let mut whole = self.tokenizer.clone();
        whole.with_truncation(None).map_err(|e| StageError::Failed(format!("tokenizer without truncation: {e}")))?;
        Ok(whole)
    }

    pub fn encode(&self, text: &str) -> Result<Encoded, StageError> {
        let encoding =
            self.tokenizer.encode(text, true).map_err(|e| StageError::Failed(format!("tokenizing {text:?}: {e}")))?;
        Ok(Encoded {
            ids: encoding.get_ids().to_vec(),
            tokens: encoding.get_tokens().to_vec(),
            special: encoding.get_special_tokens_mask().iter().map(|&m| m == 1).collect(),
        })
    }

    /// Eval-mode probabilities and attentions of one sentence (unpadded, batch of one).
    pub fn look(&self, encoded: &Encoded) -> Result<Seen, StageError> {
        let batch = Batch::pad(&[encoded.ids.as_slice()], self.model.device())?;
        let out = self.model.forward(&batch, Mode::Eval, true)?;
        let probs = candle_nn::ops::softmax(&out.logits, 1)?.squeeze(0)?.to_vec1::<f32>()?;
        let attentions = out
            .attentions
            .iter()
            .map(|a| Ok(a.squeeze(0)?.to_dtype(DType::F32)?))
            .collect::<Result<_, StageError>>()?;
        Ok(Seen { probs: [probs[0], probs[1]], attentions })
    }

    /// Integrated gradients over the word embeddings toward class `target`, from a
    /// baseline that replaces every token by `[PAD]` except the special tokens
    /// ([CLS], [SEP]): the model still sees a well-formed, empty sentence, so the
    /// attribution is about the words alone.
    pub fn integrated_gradients(
        &self,
        encoded: &Encoded,
        target: usize,
        steps: usize,
    ) -> Result<Attribution, StageError> {
        let device = self.model.device();
        let pad = self.model.config().pad_token_id;
        let baseline_ids: Vec<u32> =
            encoded.ids.iter().zip(&encoded.special).map(|(&id, &s)| if s { id } else { pad }).collect();
        let embed = |ids: &[u32]| -> Result<Tensor, StageError> {
            let ids = Tensor::new(ids, device)?.unsqueeze(0)?;
            Ok(self.model.embed_words(&ids)?.squeeze(0)?.detach())
        };
        let input = embed(&encoded.ids)?;
        let baseline = embed(&baseline_ids)?;
        let t = encoded.ids.len();
        let logits_of = |points: &Tensor| -> Result<Tensor, StageError> {
            let mask = Tensor::ones((points.dim(0)?, t), DType::F32, device)?;
            Ok(self.model.forward_embeds(points, &mask)?)
        };
        integrated_gradients(logits_of, &input, &baseline, target, steps)
    }
}

/// Explains `text` toward the model's own prediction: the tokens and their attribution.
/// For checks on a trained model (e.g. that a clearly polar sentence's strongest
/// positive attribution is a sentiment word).
pub fn attribute_text(
    model_dir: &Path,
    text: &str,
    max_len: usize,
    steps: usize,
) -> Result<(Encoded, Attribution), StageError> {
    let subject = Subject::from_dir(model_dir, max_len, Precision::Fp32, Quantize::None)?;
    let encoded = subject.encode(text)?;
    let probs = subject.look(&encoded)?.probs;
    let target = usize::from(probs[1] > probs[0]);
    let attribution = subject.integrated_gradients(&encoded, target, steps)?;
    Ok((encoded, attribution))
}

/// The pooling recorded in a saved model's config.json (`cls` when absent: a hub checkpoint).
fn saved_pooling(config: &Path) -> Result<Pooling, StageError> {
    let value: serde_json::Value = crate::json::read(config)?;
    match value.get(POOLING_KEY) {
        None => Ok(Pooling::Cls),
        Some(p) => serde_json::from_value(p.clone())
            .map_err(|e| StageError::Input(format!("{}: `{POOLING_KEY}`: {e}", config.display()))),
    }
}
