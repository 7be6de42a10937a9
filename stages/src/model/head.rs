//! The sequence-classification head on the pooled vector (`pooling.rs`): the
//! architecture's dense layer and activation (BERT: pooler + tanh, DistilBERT:
//! pre_classifier + ReLU), dropout, classifier.

use candle_core::Tensor;

use super::arch::{PoolerActivation, CLASSIFIER};
use super::config::ModelConfig;
use super::dropout::Mode;
use super::linear::Linear;
use super::options::ModelOptions;
use super::weights::Weights;

pub struct ClassifierHead {
    activation: PoolerActivation,
    dense: Linear,
    classifier: Linear,
}

impl ClassifierHead {
    pub fn new(weights: &Weights, config: &ModelConfig, opts: &ModelOptions) -> candle_core::Result<ClassifierHead> {
        Ok(ClassifierHead {
            activation: config.arch.pooler_activation,
            dense: weights.linear(config.arch.pre_classifier, opts)?,
            classifier: weights.linear(CLASSIFIER, opts)?,
        })
    }

    /// Logits [b, 2] from the pooled last hidden state [b, h].
    pub fn forward(&self, pooled: &Tensor, mode: &mut Mode, dropout: f32) -> candle_core::Result<Tensor> {
        let dense = self.dense.forward(pooled)?;
        let dense = match self.activation {
            PoolerActivation::Tanh => dense.tanh()?,
            PoolerActivation::Relu => dense.relu()?,
        };
        self.classifier.forward(&mode.dropout(&dense, dropout)?)
    }
}
