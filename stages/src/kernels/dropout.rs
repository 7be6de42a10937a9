//! Dropout with masks drawn from our seeded RNG (candle's CPU RNG cannot be
//! seeded). Torch semantics: zero with probability p, scale the kept values by
//! 1/(1-p).

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::cpu_data::cpu_slice;
use super::lanes::each2;
use super::par::{fill_rows, map2};

/// `x` with a fresh mask drawn from `rng` (one uniform f32 per value, in order) applied.
pub fn dropout(x: &Tensor, p: f32, rng: &mut ChaCha8Rng) -> candle_core::Result<Tensor> {
    let scale = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
    let mask = draw(rng, x.elem_count(), |u| if u < p { 0.0 } else { scale });
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
    x.contiguous()?.apply_op2(&mask, MaskProduct)
}

/// `f` of `len` uniform draws, the values `(0..len).map(|_| f(rng.random::<f32>()))`
/// gives, leaving `rng` where that loop leaves it, but on all threads (so that
/// drawing does not leave the other cores idle). ChaCha
/// is a counter-mode generator and an f32 draw takes one 32-bit word, so each
/// piece runs a copy of `rng` set to the word its first value would read.
fn draw(rng: &mut ChaCha8Rng, len: usize, f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let (start, base) = (rng.get_word_pos(), rng.clone());
    let values = fill_rows(len, 1, |first, dst| {
        let mut rng = base.clone();
        rng.set_word_pos(start + first as u128);
        for d in dst {
            *d = f(rng.random::<f32>());
        }
    });
    rng.set_word_pos(start + len as u128);
    values
}

/// x * mask elementwise (as candle's mul, on all threads); the backward is dy * mask.
struct MaskProduct;

impl CustomOp2 for MaskProduct {
    fn name(&self) -> &'static str {
        "dropout-mask"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok((
            CpuStorage::F32(product(
                cpu_slice::<f32>(s1, l1, "dropout", "input")?,
                cpu_slice::<f32>(s2, l2, "dropout", "mask")?,
            )?),
            l1.shape().clone(),
        ))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        mask: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(dy.contiguous()?.apply_op2(mask, MaskProduct)?), None))
    }
}

fn product(x: &[f32], mask: &[f32]) -> candle_core::Result<Vec<f32>> {
    if x.len() != mask.len() {
        candle_core::bail!("dropout: {} values, mask of {}", x.len(), mask.len());
    }
    Ok(map2(
        x,
        mask,
        #[inline(always)]
        |v, m| each2(v, m, |v, m| v * m),
    ))
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::draw;

    #[test]
    fn parallel_draws_match_one_loop_and_leave_the_generator_where_it_would() {
        // Long enough to be split over threads, from an odd word position.
        let len = 100_003;
        let mut one = ChaCha8Rng::seed_from_u64(7);
        let mut split = one.clone();
        for rng in [&mut one, &mut split] {
            let _: u32 = rng.random();
        }
        let want: Vec<f32> = (0..len).map(|_| one.random::<f32>() * 2.0).collect();
        let got = draw(&mut split, len, |u| u * 2.0);
        assert!(want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()) && want.len() == got.len());
        assert_eq!(one.random::<u64>(), split.random::<u64>(), "the generator continues where the loop left it");
    }
}
