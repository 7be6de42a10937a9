//! Train or eval mode: whether the dropout sites draw masks, and from which RNG.

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;

use crate::kernels::dropout::{dropout, dropout_rows};

pub enum Mode<'r> {
    Eval,
    /// Dropout active; masks are drawn from `rng` in a fixed order (embeddings,
    /// then each layer's attention probabilities, attention output (where the
    /// architecture has that site) and feed-forward output, then the head).
    Train {
        rng: &'r mut ChaCha8Rng,
    },
}

impl Mode<'_> {
    /// `x` after dropout with probability `p`; identity in eval mode or when p = 0.
    pub fn dropout(&mut self, x: &Tensor, p: f32) -> candle_core::Result<Tensor> {
        match self {
            Mode::Train { rng } if p > 0.0 => dropout(x, p, rng),
            _ => Ok(x.clone()),
        }
    }

    /// `x` [n, width], rows `rows` of a [total, width] tensor, after dropout with
    /// the masks that tensor would get (`kernels::dropout::dropout_rows`).
    pub fn dropout_rows(&mut self, x: &Tensor, p: f32, rows: &[u32], total: usize) -> candle_core::Result<Tensor> {
        match self {
            Mode::Train { rng } if p > 0.0 => dropout_rows(x, p, rng, rows, total),
            _ => Ok(x.clone()),
        }
    }
}
