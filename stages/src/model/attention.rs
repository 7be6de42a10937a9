//! Multi-head self-attention with an additive padding mask.

use candle_core::Tensor;

use super::dropout::Mode;
use super::linear::Linear;
use super::softmax::softmax_last_dim;
use crate::StageError;

pub struct SelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    pub heads: usize,
}

/// The additive mask of a [b, t] 1/0 attention mask: 0 on real keys and the
/// lowest f32 on padded ones (as transformers does), shaped [b, 1, 1, t] so it
/// broadcasts over heads and queries. Probabilities on padded keys become exactly 0.
pub fn mask_bias(attention_mask: &Tensor) -> Result<Tensor, StageError> {
    let (b, t) = attention_mask.dims2()?;
    // mask * MAX + MIN: 1 -> 0 exactly, 0 -> MIN.
    let bias = attention_mask.affine(f32::MAX as f64, f32::MIN as f64)?;
    Ok(bias.reshape((b, 1, 1, t))?)
}

impl SelfAttention {
    /// Returns the attention block's output [b, t, h] (before its residual) and
    /// the probabilities [b, heads, t, t] before attention dropout.
    pub fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        mode: &mut Mode,
        dropout: f32,
    ) -> Result<(Tensor, Tensor), StageError> {
        let (b, t, h) = x.dims3()?;
        let head_dim = h / self.heads;
        let split = |y: Tensor| -> Result<Tensor, StageError> {
            Ok(y.reshape((b, t, self.heads, head_dim))?.transpose(1, 2)?.contiguous()?)
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? * (head_dim as f64).powf(-0.5))?.broadcast_add(bias)?;
        let probs = softmax_last_dim(&scores)?;
        let context = mode.dropout(&probs, dropout)?.matmul(&v)?;
        let context = context.transpose(1, 2)?.reshape((b, t, h))?;
        Ok((self.output.forward(&context)?, probs))
    }
}
