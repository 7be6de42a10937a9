//! The sequence-classification head: pooling, the architecture's dense layer and
//! activation (BERT: pooler + tanh, DistilBERT: pre_classifier + ReLU), dropout,
//! classifier.

use candle_core::Tensor;

use super::arch::{PoolerActivation, CLASSIFIER};
use super::config::ModelConfig;
use super::dropout::Mode;
use super::linear::Linear;
use super::options::ModelOptions;
use super::pooling::Pooling;
use super::weights::Weights;

pub struct ClassifierHead {
    activation: PoolerActivation,
    pooling: Pooling,
    dense: Linear,
    classifier: Linear,
}

impl ClassifierHead {
    pub fn new(weights: &Weights, config: &ModelConfig, opts: &ModelOptions) -> candle_core::Result<ClassifierHead> {
        Ok(ClassifierHead {
            activation: config.arch.pooler_activation,
            pooling: opts.pooling,
            dense: weights.linear(config.arch.pre_classifier, opts)?,
            classifier: weights.linear(CLASSIFIER, opts)?,
        })
    }

    /// Logits [b, 2] from the last hidden state [b, t, h] and the [b, t] mask.
    pub fn forward(
        &self,
        hidden: &Tensor,
        attention_mask: &Tensor,
        mode: &mut Mode,
        dropout: f32,
    ) -> candle_core::Result<Tensor> {
        let dense = self.dense.forward(&self.pooling.pool(hidden, attention_mask)?)?;
        let dense = match self.activation {
            PoolerActivation::Tanh => dense.tanh()?,
            PoolerActivation::Relu => dense.relu()?,
        };
        self.classifier.forward(&mode.dropout(&dense, dropout)?)
    }
}
