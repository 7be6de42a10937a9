//! The post-LayerNorm transformer layer every architecture here shares: attention,
//! (dropout,) add & norm, feed-forward, dropout, add & norm. The architecture
//! names the tensors and says whether the attention output has its dropout.

use candle_core::Tensor;

use super::attention::SelfAttention;
use super::config::{Activation, ModelConfig};
use super::dropout::Mode;
use super::linear::Linear;
use super::options::ModelOptions;
use super::packing::Tokens;
use super::weights::Weights;
use crate::kernels::gelu::gelu_erf;
use crate::kernels::layer_norm::layer_norm;
use crate::kernels::residual::residual;

pub struct Layer {
    attention: SelfAttention,
    attention_norm: (Tensor, Tensor),
    ffn_in: Linear,
    ffn_out: Linear,
    output_norm: (Tensor, Tensor),
    activation: Activation,
    attention_output_dropout: bool,
    eps: f64,
}

impl Layer {
    pub fn new(
        weights: &Weights,
        config: &ModelConfig,
        index: usize,
        opts: &ModelOptions,
    ) -> candle_core::Result<Layer> {
        let n = (config.arch.layer)(index);
        let linear = |module: &str| weights.linear(module, opts);
        Ok(Layer {
            attention: SelfAttention {
                query: linear(&n.query)?,
                key: linear(&n.key)?,
                value: linear(&n.value)?,
                output: linear(&n.attention_out)?,
                heads: config.heads,
            },
            attention_norm: weights.norm(&n.attention_norm)?,
            ffn_in: linear(&n.ffn_in)?,
            ffn_out: linear(&n.ffn_out)?,
            output_norm: weights.norm(&n.output_norm)?,
            activation: config.activation,
            attention_output_dropout: config.arch.attention_output_dropout,
            eps: config.layer_norm_eps,
        })
    }

    /// The layer output in the layout `out` (that of `x`, `tokens`, or fewer
    /// rows: everything after attention is computed for those rows only), and
    /// the attention probabilities.
    pub fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        mode: &mut Mode,
        dropout: f32,
        tokens: Tokens,
        out: Tokens,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (attended, probs) = self.attention.forward(x, bias, mode, dropout, tokens, out)?;
        let attended = if self.attention_output_dropout { out.dropout(mode, &attended, dropout)? } else { attended };
        let x = out.take(tokens, x)?;
        let x = layer_norm(&residual(&attended, &x)?, &self.attention_norm.0, &self.attention_norm.1, self.eps)?;
        let inner = self.ffn_in.forward(&x)?;
        let inner = match self.activation {
            Activation::Gelu => gelu_erf(&inner)?,
            Activation::GeluTanh => inner.gelu()?,
            Activation::Relu => inner.relu()?,
        };
        let ffn = out.dropout(mode, &self.ffn_out.forward(&inner)?, dropout)?;
        let y = layer_norm(&residual(&ffn, &x)?, &self.output_norm.0, &self.output_norm.1, self.eps)?;
        Ok((y, probs))
    }
}
