//! Multi-head self-attention with an additive padding mask.

use candle_core::{Tensor, D};

use super::dropout::Mode;
use super::linear::Linear;
use super::packing::Tokens;
use crate::kernels::head_split::{merge_heads, split_heads};
use crate::kernels::softmax::masked_softmax;

pub struct SelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    pub heads: usize,
}

/// The additive mask of a [b, t] 1/0 attention mask: 0 on real keys and the
/// lowest f32 on padded ones (as transformers does), [b, t]; the softmax adds
/// it to every head's and query's row. Probabilities on padded keys become exactly 0.
pub fn mask_bias(attention_mask: &Tensor) -> candle_core::Result<Tensor> {
    // mask * MAX + MIN: 1 -> 0 exactly, 0 -> MIN.
    attention_mask.affine(f32::MAX as f64, f32::MIN as f64)
}

impl SelfAttention {
    /// Returns the attention block's output (before its residual) in the layout
    /// `out` (that of `x`, `tokens`, or fewer rows), and the probabilities [b,
    /// heads, t, t] before attention dropout.
    pub fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        mode: &mut Mode,
        dropout: f32,
        tokens: Tokens,
        out: Tokens,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let head_dim = x.dim(D::Minus1)? / self.heads;
        let heads = |linear: &Linear| split_heads(&tokens.to_padded(&linear.forward(x)?)?, self.heads);
        let (q, k, v) = (heads(&self.query)?, heads(&self.key)?, heads(&self.value)?);
        let probs = masked_softmax(&q.matmul(&k.t()?)?, (head_dim as f64).powf(-0.5), bias)?;
        let context = merge_heads(&mode.dropout(&probs, dropout)?.matmul(&v)?)?;
        Ok((self.output.forward(&out.pack(&context)?)?, probs))
    }
}
