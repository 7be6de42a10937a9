//! Embedding layer: word + learned position (+ token type 0 for BERT), LayerNorm, dropout.

use candle_core::Tensor;

use super::config::ModelConfig;
use super::dropout::Mode;
use super::layer_norm::layer_norm;
use super::lookup::lookup;
use super::weights::Params;
use crate::StageError;

pub struct Embeddings {
    word: Tensor,
    position: Tensor,
    /// Row 0 of the token-type table: every token is segment 0 here.
    token_type0: Option<Tensor>,
    norm: (Tensor, Tensor),
    eps: f64,
}

impl Embeddings {
    pub fn new(params: &Params, config: &ModelConfig) -> Result<Embeddings, StageError> {
        let t = config.model_type;
        let word = params.tensor(&format!("{}.weight", t.word_embeddings()))?;
        let position = params.tensor(&format!("{}.weight", t.position_embeddings()))?;
        let token_type0 = match t.token_type_embeddings() {
            Some(name) => Some(params.tensor(&format!("{name}.weight"))?.narrow(0, 0, 1)?),
            None => None,
        };
        Ok(Embeddings { word, position, token_type0, norm: params.norm(&t.embeddings_norm())?, eps: config.layer_norm_eps })
    }

    /// Word embeddings [b, t, h] of ids [b, t].
    pub fn words(&self, input_ids: &Tensor) -> Result<Tensor, StageError> {
        let (b, t) = input_ids.dims2()?;
        let vocab = self.word.dim(0)?;
        let max = input_ids.max_all()?.to_scalar::<u32>()? as usize;
        if max >= vocab {
            return Err(StageError::Data(format!("token id {max} is outside the vocabulary of {vocab}")));
        }
        let flat = lookup(&self.word, &input_ids.flatten_all()?)?;
        Ok(flat.reshape((b, t, self.word.dim(1)?))?)
    }

    /// The embedding output from word embeddings [b, t, h] (positions 0..t).
    pub fn forward(&self, words: &Tensor, mode: &mut Mode, dropout: f32) -> Result<Tensor, StageError> {
        let t = words.dim(1)?;
        let max = self.position.dim(0)?;
        if t > max {
            return Err(StageError::Data(format!("sequence of {t} tokens is longer than the model's {max} positions")));
        }
        let mut x = words.broadcast_add(&self.position.narrow(0, 0, t)?)?;
        if let Some(tt) = &self.token_type0 {
            x = x.broadcast_add(tt)?;
        }
        let x = layer_norm(&x, &self.norm.0, &self.norm.1, self.eps)?;
        mode.dropout(&x, dropout)
    }

}
