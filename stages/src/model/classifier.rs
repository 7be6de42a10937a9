//! An encoder of any architecture in `arch/` with its classification head:
//! loading, forward passes in train and eval mode, and batched prediction.

use std::path::Path;

use candle_core::{Device, Tensor, Var};
use serde_json::Value;

use super::attention::mask_bias;
use super::batch::Batch;
use super::config::ModelConfig;
use super::dropout::Mode;
use super::embeddings::Embeddings;
use super::encoder::Layer;
use super::error::ModelError;
use super::head::ClassifierHead;
use super::options::ModelOptions;
use super::packing::{Packing, Tokens};
use super::pooling::Pooling;
use super::weights::Weights;
use crate::kernels::par::on_pool;

/// The config key that records the head's pooling in a saved model directory.
pub const POOLING_KEY: &str = "pipe_pooling";

pub struct Output {
    /// [b, 2]
    pub logits: Tensor,
    /// Embedding output, then each layer's output: layers + 1 tensors [b, t, h].
    pub hidden_states: Vec<Tensor>,
    /// Per layer [b, heads, t, t] (pre-dropout probabilities), only when requested.
    pub attentions: Vec<Tensor>,
}

pub struct Classifier {
    pub(super) config: ModelConfig,
    pub(super) weights: Weights,
    pub(super) opts: ModelOptions,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    head: ClassifierHead,
    device: Device,
}

impl Classifier {
    /// From a local HF model directory that includes the head (e.g. the train stage's `model/`).
    pub fn from_dir(dir: &Path, opts: &ModelOptions) -> Result<Classifier, ModelError> {
        let config_path = dir.join("config.json");
        let model = Self::load(&config_path, &dir.join("model.safetensors"), opts, None)?;
        if let Some(saved) = model.config.raw.get(POOLING_KEY).and_then(Value::as_str) {
            if saved != opts.pooling.name() {
                return Err(ModelError::Checkpoint(format!(
                    "{}: the model was trained with pooling `{saved}`, asked to run with `{}`",
                    config_path.display(),
                    opts.pooling.name()
                )));
            }
        }
        Ok(model)
    }

    /// From a checkpoint's config.json and safetensors; a head the checkpoint
    /// lacks is drawn from `head_seed`, or is an error without one.
    pub fn load(
        config: &Path,
        weights: &Path,
        opts: &ModelOptions,
        head_seed: Option<u64>,
    ) -> Result<Classifier, ModelError> {
        let mut config = ModelConfig::read(config)?;
        if let Some(n) = opts.num_layers {
            if n == 0 || n > config.layers {
                let message = format!("must be 1..={} for this model, got {n}", config.layers);
                return Err(ModelError::Option { key: "num_layers", message });
            }
            config.layers = n;
        }
        let weights = Weights::load(weights, &config, head_seed)?;
        Self::assemble(config, weights, opts)
    }

    /// `config`'s architecture with every weight drawn from `seed` (`pipe bench
    /// --config`: timing a resized model, whose checkpoint no longer fits).
    pub fn random(config: ModelConfig, opts: &ModelOptions, seed: u64) -> Result<Classifier, ModelError> {
        let weights = Weights::random(&config, seed)?;
        Self::assemble(config, weights, opts)
    }

    fn assemble(config: ModelConfig, weights: Weights, opts: &ModelOptions) -> Result<Classifier, ModelError> {
        let embeddings = Embeddings::new(&weights, &config)?;
        let layers =
            (0..config.layers).map(|i| Layer::new(&weights, &config, i, opts)).collect::<Result<Vec<_>, _>>()?;
        let head = ClassifierHead::new(&weights, &config, opts)?;
        Ok(Classifier { config, weights, opts: opts.clone(), embeddings, layers, head, device: Device::Cpu })
    }

    pub fn forward(&self, batch: &Batch, mut mode: Mode, want_attentions: bool) -> Result<Output, ModelError> {
        let words = self.embeddings.words(&batch.input_ids)?;
        self.run(&words, &batch.attention_mask, &mut mode, want_attentions, None, false)
    }

    /// Logits [b, 2] in train or eval mode, the same bits as `forward`'s, from only
    /// what they depend on: the layers run on the batch's real tokens
    /// (`packing.rs`), and with [CLS] pooling the last layer past its attention
    /// on each sentence's first token alone. In eval mode nothing is recorded for
    /// backprop: each intermediate tensor is freed once used, instead of the whole
    /// pass living until the logits go.
    pub fn logits(&self, batch: &Batch, mut mode: Mode) -> Result<Tensor, ModelError> {
        let train = matches!(mode, Mode::Train { .. });
        on_pool(|| {
            let mut pass = || self.logits_from_words(&self.embeddings.words(&batch.input_ids)?, batch, &mut mode);
            if train {
                pass()
            } else {
                candle_core::backprop::no_grad(pass)
            }
        })
    }

    /// `logits`' pass from the batch's word embeddings [b, t, h] (`embed_words`), on
    /// the calling thread and recorded for backprop: training differentiates w.r.t.
    /// the words and gathers the table's gradient from theirs (`train::gradients`).
    pub fn logits_from_words(&self, words: &Tensor, batch: &Batch, mode: &mut Mode) -> Result<Tensor, ModelError> {
        let packing = Packing::of(&batch.attention_mask)?;
        Ok(self.run(words, &batch.attention_mask, mode, false, packing.as_ref(), true)?.logits)
    }

    /// Word embeddings [b, t, h] of ids [b, t] (the input of `forward_embeds`).
    pub fn embed_words(&self, input_ids: &Tensor) -> Result<Tensor, ModelError> {
        self.embeddings.words(input_ids)
    }

    /// Eval-mode logits from given word embeddings (positions, token types and
    /// LayerNorm are added as usual); differentiable w.r.t. `word_embeds`.
    pub fn forward_embeds(&self, word_embeds: &Tensor, attention_mask: &Tensor) -> Result<Tensor, ModelError> {
        Ok(self.run(word_embeds, attention_mask, &mut Mode::Eval, false, None, false)?.logits)
    }

    /// With a packing, the hidden states are the real tokens' rows, [n, h]; with
    /// `logits_only` and [CLS] pooling, the last one is the first tokens', [b, h].
    fn run(
        &self,
        words: &Tensor,
        mask: &Tensor,
        mode: &mut Mode,
        want_attentions: bool,
        packing: Option<&Packing>,
        logits_only: bool,
    ) -> Result<Output, ModelError> {
        let p = self.opts.dropout;
        let tokens = Tokens::new(packing);
        let last = match self.opts.pooling {
            Pooling::Cls if logits_only => Tokens::First { len: mask.dim(1)? },
            _ => tokens,
        };
        let bias = mask_bias(mask)?;
        let mut x = tokens.pack(&self.embeddings.forward(words, mode, p)?)?;
        let mut hidden_states = Vec::with_capacity(self.layers.len() + 1);
        let mut attentions = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let out = if i + 1 == self.layers.len() { last } else { tokens };
            let (y, probs) = layer.forward(&x, &bias, mode, p, tokens, out)?;
            hidden_states.push(x);
            if want_attentions {
                attentions.push(probs);
            }
            x = y;
        }
        let pooled = match last {
            Tokens::First { .. } => x.clone(),
            _ => self.opts.pooling.pool(&tokens.to_padded(&x)?, mask)?,
        };
        let logits = self.head.forward(&pooled, mode, p)?;
        hidden_states.push(x);
        Ok(Output { logits, hidden_states, attentions })
    }

    /// Trainable parameters under their HF names, sorted by name.
    pub fn vars(&self) -> Vec<(String, Var)> {
        self.weights.vars().iter().map(|(n, v)| (n.clone(), v.clone())).collect()
    }

    /// The word-embedding table's parameter: its gradient is zero outside the rows of
    /// the batch's token ids (`Batch::input_ids`), since nothing else reads the table
    /// (training keeps those rows alone, `train::gradients`).
    pub fn word_embeddings(&self) -> Option<Var> {
        self.weights.vars().get(&format!("{}.weight", self.config.arch.embeddings().word)).cloned()
    }

    /// Eval-mode logits for many rows, batched by similar length (less padding);
    /// results are in input order. Stops between batches once the run is asked to
    /// (`crate::interrupt`): scoring a split takes seconds to minutes.
    pub fn predict_logits(&self, rows: &[Vec<u32>], batch_size: usize) -> Result<Vec<[f32; 2]>, ModelError> {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| rows[i].len());
        let mut out = vec![[0f32; 2]; rows.len()];
        for chunk in order.chunks(batch_size.max(1)) {
            if crate::interrupt::requested().is_some() {
                return Err(ModelError::Interrupted);
            }
            let batch_rows: Vec<&[u32]> = chunk.iter().map(|&i| rows[i].as_slice()).collect();
            let batch = Batch::pad(&batch_rows, &self.device)?;
            let logits = self.logits(&batch, Mode::Eval)?.to_vec2::<f32>()?;
            for (&i, l) in chunk.iter().zip(logits) {
                out[i] = [l[0], l[1]];
            }
        }
        Ok(out)
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn options(&self) -> &ModelOptions {
        &self.opts
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}
