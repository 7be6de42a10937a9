//! Embedding layer: word + learned position (+ token type 0 where the architecture
//! has token types), LayerNorm, dropout.

use candle_core::Tensor;

use super::config::ModelConfig;
use super::dropout::Mode;
use super::error::ModelError;
use super::weights::Weights;
use crate::kernels::layer_norm::layer_norm;
use crate::kernels::lookup::lookup;

pub struct Embeddings {
    word: Tensor,
    position: Tensor,
    /// Row 0 of the token-type table: every token is segment 0 here.
    token_type0: Option<Tensor>,
    norm: (Tensor, Tensor),
    eps: f64,
    /// The position id of the first token.
    position_offset: usize,
}

impl Embeddings {
    pub fn new(weights: &Weights, config: &ModelConfig) -> candle_core::Result<Embeddings> {
        let names = config.arch.embeddings();
        let token_type0 = match &names.token_type {
            Some(name) => Some(weights.tensor(&format!("{name}.weight"))?.narrow(0, 0, 1)?),
            None => None,
        };
        Ok(Embeddings {
            word: weights.tensor(&format!("{}.weight", names.word))?,
            position: weights.tensor(&format!("{}.weight", names.position))?,
            token_type0,
            norm: weights.norm(&names.norm)?,
            eps: config.layer_norm_eps,
            position_offset: config.arch.position_offset,
        })
    }

    /// Word embeddings [b, t, h] of ids [b, t].
    pub fn words(&self, input_ids: &Tensor) -> Result<Tensor, ModelError> {
        let (b, t) = input_ids.dims2()?;
        let vocab = self.word.dim(0)?;
        let max = input_ids.max_all()?.to_scalar::<u32>()? as usize;
        if max >= vocab {
            return Err(ModelError::Data(format!("token id {max} is outside the vocabulary of {vocab}")));
        }
        let flat = lookup(&self.word, &input_ids.flatten_all()?)?;
        Ok(flat.reshape((b, t, self.word.dim(1)?))?)
    }

    /// The embedding output from word embeddings [b, t, h] (positions offset..offset + t).
    pub fn forward(&self, words: &Tensor, mode: &mut Mode, dropout: f32) -> Result<Tensor, ModelError> {
        let t = words.dim(1)?;
        let max = self.position.dim(0)?.saturating_sub(self.position_offset);
        if t > max {
            return Err(ModelError::Data(format!("sequence of {t} tokens is longer than the model's {max} positions")));
        }
        let mut x = words.broadcast_add(&self.position.narrow(0, self.position_offset, t)?)?;
        if let Some(tt) = &self.token_type0 {
            x = x.broadcast_add(tt)?;
        }
        let x = layer_norm(&x, &self.norm.0, &self.norm.1, self.eps)?;
        Ok(mode.dropout(&x, dropout)?)
    }
}
