//! Train/eval mode and dropout with masks drawn from our seeded RNG (candle's
//! CPU RNG cannot be seeded). Torch semantics: zero with probability p, scale the
//! kept values by 1/(1-p); identity in eval mode or when p = 0.

use candle_core::Tensor;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::StageError;

pub enum Mode<'r> {
    Eval,
    /// Dropout active; masks are drawn from `rng` in a fixed order (embeddings,
    /// then each layer's attention probabilities, attention output (BERT only) and
    /// feed-forward output, then the head).
    Train { rng: &'r mut ChaCha8Rng },
}

impl Mode<'_> {
    pub fn dropout(&mut self, x: &Tensor, p: f32) -> Result<Tensor, StageError> {
        let rng = match self {
            Mode::Train { rng } if p > 0.0 => rng,
            _ => return Ok(x.clone()),
        };
        let scale = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
        let mask: Vec<f32> = (0..x.elem_count()).map(|_| if rng.random::<f32>() < p { 0.0 } else { scale }).collect();
        Ok((x * Tensor::from_vec(mask, x.shape(), x.device())?)?)
    }
}
