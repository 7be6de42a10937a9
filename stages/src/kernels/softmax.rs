//! Attention's softmax, over the last dimension of scores * scale + mask, as
//! one custom op with a backward pass. candle-nn's fast `softmax_last_dim` has
//! no backward and the composed `softmax` materialises four tensors of [batch,
//! heads, query, key] per layer; candle's scaling and mask addition run on one
//! thread. The values are
//! those of the composed ops: (s * scale + 0) + mask, candle's affine then the
//! broadcast add; the backward's dx * scale + 0 is the affine's backward.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use super::cpu_data::{cpu_slice, row_len};
use super::expf::expf_lanes;
use super::lanes::{build, each, each2, map_blocks, Lanes, LANES};
use super::par::fill_rows;
use super::transpose::columns;

/// softmax(scores * scale + mask) along the last dimension, for `scores` [b, ..,
/// t] and a `mask` [b, t] added to every row of batch item b.
pub fn masked_softmax(scores: &Tensor, scale: f64, mask: &Tensor) -> candle_core::Result<Tensor> {
    scores.contiguous()?.apply_op2(&mask.contiguous()?, MaskedSoftmax { scale: scale as f32 })
}

struct MaskedSoftmax {
    scale: f32,
}

impl MaskedSoftmax {
    /// The pre-softmax values of one block of a row.
    #[inline(always)]
    fn logits(&self, s: Lanes, mask: Lanes) -> Lanes {
        build(|i| s[i] * self.scale + 0.0 + mask[i])
    }
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax-with-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice::<f32>(s1, l1, "softmax", "scores")?;
        let mask = cpu_slice::<f32>(s2, l2, "softmax", "mask")?;
        let dim = row_len(l1, "softmax")?;
        let batch = l1.dims()[0];
        if l2.dims() != [batch, dim] {
            candle_core::bail!("softmax: mask {:?} for scores {:?}, expected [{batch}, {dim}]", l2.dims(), l1.dims());
        }
        // Rows of scores per batch item: they share a mask row (none when the batch is empty).
        let per_item = x.len() / dim / batch.max(1);
        let out = fill_rows(
            x.len(),
            dim,
            #[inline(always)]
            |first, rows| {
                let row_at = |r: usize| (&x[(first + r) * dim..][..dim], &mask[(first + r) / per_item * dim..][..dim]);
                // 16 rows at a time: each row's max and sum in a lane of their own
                // (`columns`), taken in the row's order as a loop over one row does.
                for (group, dst) in rows.chunks_mut(LANES * dim).enumerate() {
                    let n = dst.len() / dim;
                    let first_row = group * LANES;
                    for (r, dst) in dst.chunks_exact_mut(dim).enumerate() {
                        let (row, mask) = row_at(first_row + r);
                        map_blocks(
                            dst,
                            [row, mask],
                            #[inline(always)]
                            |[s, m]| self.logits(s, m),
                        );
                    }
                    let mut max = [f32::NEG_INFINITY; LANES];
                    columns([&*dst], n, dim, |_, [v]| max = each2(max, v, f32::max));
                    // The logits again from scores and mask (two operations a value):
                    // `map_blocks` writes a destination from other sources, not in place.
                    for (r, (dst, max)) in dst.chunks_exact_mut(dim).zip(max).enumerate() {
                        let (row, mask) = row_at(first_row + r);
                        map_blocks(
                            dst,
                            [row, mask],
                            #[inline(always)]
                            |[s, m]| expf_lanes(each(self.logits(s, m), |v| v - max)),
                        );
                    }
                    let mut sum = [0f32; LANES];
                    columns([&*dst], n, dim, |_, [e]| sum = each2(sum, e, |s, e| s + e));
                    for (dst, sum) in dst.chunks_exact_mut(dim).zip(sum) {
                        for d in dst.iter_mut() {
                            *d /= sum;
                        }
                    }
                }
            },
        );
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _mask: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(y.apply_op2(&dy.contiguous()?, MaskedSoftmaxBackward { scale: self.scale })?), None))
    }
}

/// d softmax: dx = (y * (dy - sum(dy * y))) * scale + 0 along the last
/// dimension; operands (y, dy).
struct MaskedSoftmaxBackward {
    scale: f32,
}

impl CustomOp2 for MaskedSoftmaxBackward {
    fn name(&self) -> &'static str {
        "masked-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = cpu_slice::<f32>(s1, l1, "softmax backward", "output")?;
        let dy = cpu_slice::<f32>(s2, l2, "softmax backward", "gradient")?;
        let dim = row_len(l1, "softmax backward")?;
        if y.len() != dy.len() {
            candle_core::bail!("softmax backward: output {:?} vs gradient {:?}", l1.dims(), l2.dims());
        }
        let scale = self.scale;
        let dx = fill_rows(
            y.len(),
            dim,
            #[inline(always)]
            |first, rows| {
                let (y, dy) = (&y[first * dim..][..rows.len()], &dy[first * dim..][..rows.len()]);
                for ((y, dy), dx) in y.chunks(LANES * dim).zip(dy.chunks(LANES * dim)).zip(rows.chunks_mut(LANES * dim))
                {
                    // Each row's dot product in a lane, in index order from -0.0 (`Sum`'s start).
                    let mut dot = [-0.0; LANES];
                    columns([y, dy], y.len() / dim, dim, |_, [y, dy]| dot = build(|r| dot[r] + y[r] * dy[r]));
                    for (((y, dy), dx), dot) in
                        y.chunks_exact(dim).zip(dy.chunks_exact(dim)).zip(dx.chunks_exact_mut(dim)).zip(dot)
                    {
                        for ((d, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                            *d = (g - dot) * y * scale + 0.0;
                        }
                    }
                }
            },
        );
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::expf::expf;
    use super::*;
    use candle_core::Device;

    #[test]
    fn an_empty_batch_gives_an_empty_result() {
        let scores = Tensor::zeros((0, 2, 3, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let mask = Tensor::zeros((0, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert_eq!(masked_softmax(&scores, 0.5, &mask).unwrap().dims(), &[0, 2, 3, 3]);
    }

    #[test]
    fn rows_get_the_bits_of_one_row_at_a_time() {
        // 37 rows (two groups of 16 and a partial one) of 23 values (a whole block
        // and a partial one), in 37 batch items of one row, then 1 item of 37 rows.
        let (rows, dim, scale) = (37, 23, 0.3f32);
        let x: Vec<f32> = (0..rows * dim).map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0).collect();
        let dy: Vec<f32> = (0..rows * dim).map(|i| ((i * 104_729) % 997) as f32 / 11.0 - 40.0).collect();
        // The additive padding mask: 0 on kept keys, the lowest f32 on padded ones.
        let keep = |i: usize| if (i * 31) % 7 == 3 { f32::MIN } else { 0.0 };
        for items in [rows, 1] {
            let mask: Vec<f32> = (0..items * dim).map(keep).collect();
            let xt = Tensor::from_vec(x.clone(), (items, rows / items, dim), &Device::Cpu).unwrap();
            let mt = Tensor::from_vec(mask.clone(), (items, dim), &Device::Cpu).unwrap();
            let y = masked_softmax(&xt, scale as f64, &mt).unwrap();
            let dyt = Tensor::from_vec(dy.clone(), (items, rows / items, dim), &Device::Cpu).unwrap();
            let dx = y.apply_op2(&dyt, MaskedSoftmaxBackward { scale }).unwrap();
            let (y, dx) = (
                y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                dx.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            );
            for r in 0..rows {
                let (row, g, m) =
                    (&x[r * dim..][..dim], &dy[r * dim..][..dim], &mask[r / (rows / items) * dim..][..dim]);
                let logits: Vec<f32> = row.iter().zip(m).map(|(v, m)| v * scale + 0.0 + m).collect();
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = logits.iter().map(|v| expf(v - max)).collect();
                let sum = e.iter().fold(0f32, |s, e| s + e);
                let want: Vec<f32> = e.iter().map(|e| e / sum).collect();
                let dot: f32 = want.iter().zip(g).map(|(a, b)| a * b).sum();
                for j in 0..dim {
                    assert_eq!(y[r * dim + j].to_bits(), want[j].to_bits(), "softmax, row {r}, column {j}");
                    assert_eq!(
                        dx[r * dim + j].to_bits(),
                        ((g[j] - dot) * want[j] * scale + 0.0).to_bits(),
                        "backward, row {r}, column {j}"
                    );
                }
            }
        }
    }
}
