//! The sequence-classification head: pooling, the architecture's dense layer
//! (BERT: pooler + tanh, DistilBERT: pre_classifier + ReLU), dropout, classifier.
//!
//! With `pooling: cls` this is exactly transformers' head. With `pooling: mean`
//! the masked mean of the last hidden state replaces the [CLS] vector and the same
//! dense layer + activation follow: the head keeps its parameters and shape, so a
//! cls/mean ablation changes only the pooling operator (skipping the dense layer
//! would also change the head's depth and leave the pretrained pooler unused).

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::config::{ModelConfig, ModelType};
use super::dropout::Mode;
use super::linear::Linear;
use super::precision::Precision;
use super::weights::Params;
use crate::StageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The first token's ([CLS]) last hidden state.
    #[default]
    Cls,
    /// The mean of the last hidden state over real (unpadded) tokens.
    Mean,
}

impl Pooling {
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Cls => "cls",
            Pooling::Mean => "mean",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeadOptions {
    pub pooling: Pooling,
    /// Dropout probability of every dropout site of the architecture in train mode
    /// (as setting all dropout fields of the HF config): embeddings, attention
    /// probabilities, the residual branches (BERT: both, DistilBERT: feed-forward
    /// only, as in transformers) and the head.
    pub dropout: f32,
    /// Keep only the first N encoder layers (None: all).
    pub num_layers: Option<usize>,
    /// Of every dense layer's matrix products.
    pub precision: Precision,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions { pooling: Pooling::Cls, dropout: 0.1, num_layers: None, precision: Precision::Fp32 }
    }
}

pub struct Head {
    model_type: ModelType,
    pooling: Pooling,
    dense: Linear,
    classifier: Linear,
}

impl Head {
    pub fn new(params: &Params, config: &ModelConfig, opts: &HeadOptions) -> Result<Head, StageError> {
        let t = config.model_type;
        Ok(Head {
            model_type: t,
            pooling: opts.pooling,
            dense: params.linear(t.pre_classifier(), opts.precision)?,
            classifier: params.linear(t.classifier(), opts.precision)?,
        })
    }

    /// Logits [b, 2] from the last hidden state [b, t, h] and the [b, t] mask.
    pub fn forward(
        &self,
        hidden: &Tensor,
        attention_mask: &Tensor,
        mode: &mut Mode,
        dropout: f32,
    ) -> Result<Tensor, StageError> {
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => mean_pool(hidden, attention_mask)?,
        };
        let dense = self.dense.forward(&pooled)?;
        let dense = match self.model_type {
            ModelType::Bert => dense.tanh()?,
            ModelType::DistilBert => dense.relu()?,
        };
        self.classifier.forward(&mode.dropout(&dense, dropout)?)
    }
}

/// Sum of the hidden states of real tokens divided by their count: [b, h].
pub fn mean_pool(hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor, StageError> {
    let mask = attention_mask.unsqueeze(2)?;
    let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
    Ok(sum.broadcast_div(&attention_mask.sum_keepdim(1)?)?)
}
