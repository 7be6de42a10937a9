//! How a classifier is built and run, beyond what its checkpoint fixes.

use super::pooling::Pooling;
use super::quantize::Quantize;
use crate::kernels::Precision;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelOptions {
    pub pooling: Pooling,
    /// Dropout probability of every dropout site of the architecture in train mode
    /// (as setting all dropout fields of the HF config): embeddings, attention
    /// probabilities, the residual branches (see `Architecture::attention_output_dropout`)
    /// and the head. f32: the masks compare it with f32 draws.
    pub dropout: f32,
    /// Keep only the first N encoder layers (None: all).
    pub num_layers: Option<usize>,
    /// Of every dense layer's matrix products.
    pub precision: Precision,
    /// Quantized dense layers, for inference (None: the f32 weights).
    pub quantize: Quantize,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            pooling: Pooling::Cls,
            dropout: 0.1,
            num_layers: None,
            precision: Precision::Fp32,
            quantize: Quantize::None,
        }
    }
}
