//! How the head reduces the last hidden state [b, t, h] to one vector per sentence.
//!
//! With `pooling: cls` the head is exactly transformers' head. With `pooling: mean`
//! the masked mean of the last hidden state replaces the [CLS] vector and the same
//! dense layer + activation follow: the head keeps its parameters and shape, so a
//! cls/mean ablation changes only the pooling operator (skipping the dense layer
//! would also change the head's depth and leave the pretrained pooler unused).

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

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

    /// [b, h] from the last hidden state [b, t, h] and the [b, t] mask.
    pub fn pool(self, hidden: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1),
            Pooling::Mean => mean_pool(hidden, attention_mask),
        }
    }
}

/// Sum of the hidden states of real tokens divided by their count: [b, h].
pub fn mean_pool(hidden: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = attention_mask.unsqueeze(2)?;
    let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
    sum.broadcast_div(&attention_mask.sum_keepdim(1)?)
}
