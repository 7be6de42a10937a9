//! Train/eval mode and dropout with masks drawn from our seeded RNG (candle's
//! CPU RNG cannot be seeded). Torch semantics: zero with probability p, scale the
//! kept values by 1/(1-p); identity in eval mode or when p = 0.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::cpu_data::cpu_slice;
use super::lanes::each2;
use super::par::map2;
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
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
        Ok(x.contiguous()?.apply_op2(&mask, MaskProduct)?)
    }
}

/// x * mask elementwise (as candle's mul, on all threads); the backward is dy * mask.
struct MaskProduct;

impl CustomOp2 for MaskProduct {
    fn name(&self) -> &'static str {
        "dropout-mask"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok((CpuStorage::F32(product(cpu_slice::<f32>(s1, l1, "dropout", "input")?, cpu_slice::<f32>(s2, l2, "dropout", "mask")?)?), l1.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, mask: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(dy.contiguous()?.apply_op2(mask, MaskProduct)?), None))
    }
}

fn product(x: &[f32], mask: &[f32]) -> candle_core::Result<Vec<f32>> {
    if x.len() != mask.len() {
        candle_core::bail!("dropout: {} values, mask of {}", x.len(), mask.len());
    }
    Ok(map2(x, mask, #[inline(always)] |v, m| each2(v, m, |v, m| v * m)))
}
