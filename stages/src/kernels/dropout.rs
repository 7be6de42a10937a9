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
    // In rows of the last dimension, so the generator is placed once a row, not once a
    // value; value i reads word i in any shape.
    let width = x.dims().last().map_or(1, |&w| w.max(1));
    apply(x, draw(rng, width, x.elem_count() / width, None, keep(p)))
}

/// `x` [n, width] holding rows `rows` of a [total, width] tensor: the mask drawn
/// is the whole tensor's, as `dropout` would draw it, and `x` gets its rows' part.
/// So skipping rows (padding, tokens nothing reads) neither changes the values the
/// kept rows get nor where the generator goes on from.
pub fn dropout_rows(
    x: &Tensor,
    p: f32,
    rng: &mut ChaCha8Rng,
    rows: &[u32],
    total: usize,
) -> candle_core::Result<Tensor> {
    let (n, width) = x.dims2()?;
    if n != rows.len() || rows.iter().any(|&r| r as usize >= total) {
        candle_core::bail!("dropout: {n} rows of x for {} rows of a {total}-row mask", rows.len());
    }
    apply(x, draw(rng, width, total, Some(rows), keep(p)))
}

/// A draw u's mask value: 0 with probability p, else the scale 1/(1-p).
fn keep(p: f32) -> impl Fn(f32) -> f32 + Sync {
    let scale = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
    move |u| if u < p { 0.0 } else { scale }
}

fn apply(x: &Tensor, mask: Vec<f32>) -> candle_core::Result<Tensor> {
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
    x.contiguous()?.apply_op2(&mask, MaskProduct)
}

/// `f` of the uniform draws of a [total, width] mask, `(0..total * width).map(|_|
/// f(rng.random::<f32>()))`, restricted to `rows` (all when None), leaving `rng`
/// where that loop leaves it, but on all threads (so that drawing does not leave
/// the other cores idle). ChaCha is a counter-mode generator and an f32 draw
/// takes one 32-bit word, so each piece runs a copy of `rng` set to the word its
/// first value would read, and moves it again only where the rows skip.
fn draw(
    rng: &mut ChaCha8Rng,
    width: usize,
    total: usize,
    rows: Option<&[u32]>,
    f: impl Fn(f32) -> f32 + Sync,
) -> Vec<f32> {
    let (start, base) = (rng.get_word_pos(), rng.clone());
    let n = rows.map_or(total, <[u32]>::len);
    let values = fill_rows(n * width, width, |first, dst| {
        let mut rng = base.clone();
        let mut next = None;
        for (i, dst) in dst.chunks_exact_mut(width).enumerate() {
            let row = rows.map_or(first + i, |rows| rows[first + i] as usize);
            if next != Some(row) {
                rng.set_word_pos(start + (row * width) as u128);
            }
            for d in dst {
                *d = f(rng.random::<f32>());
            }
            next = Some(row + 1);
        }
    });
    rng.set_word_pos(start + (total * width) as u128);
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
    fn parallel_draws_in_rows_of_any_width_match_one_loop_and_leave_the_generator_where_it_would() {
        // Long enough to be split over threads, from an odd word position.
        let len = 100_002;
        for width in [1, 42] {
            let mut one = ChaCha8Rng::seed_from_u64(7);
            let mut split = one.clone();
            for rng in [&mut one, &mut split] {
                let _: u32 = rng.random();
            }
            let want: Vec<f32> = (0..len).map(|_| one.random::<f32>() * 2.0).collect();
            let got = draw(&mut split, width, len / width, None, |u| u * 2.0);
            assert!(want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()) && want.len() == got.len());
            assert_eq!(one.random::<u64>(), split.random::<u64>(), "the generator continues where the loop left it");
        }
    }

    #[test]
    fn some_rows_get_the_draws_of_the_whole_mask_and_the_generator_moves_as_far() {
        let (width, total) = (37, 3_001);
        let mut whole = ChaCha8Rng::seed_from_u64(9);
        let mut some = whole.clone();
        let all = draw(&mut whole, width, total, None, |u| u);
        // Unsorted, repeated and adjacent rows, many enough to be split over threads.
        let rows: Vec<u32> = (0..2_000u32).map(|i| (i * 7 + i / 3) % total as u32).collect();
        let got = draw(&mut some, width, total, Some(&rows), |u| u);
        let want: Vec<f32> = rows.iter().flat_map(|&r| all[r as usize * width..][..width].to_vec()).collect();
        assert!(want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()) && want.len() == got.len());
        assert_eq!(whole.random::<u64>(), some.random::<u64>());
    }
}
