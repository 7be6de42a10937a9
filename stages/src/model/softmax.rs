//! Softmax over the last dimension as a custom op with a backward pass.
//! candle-nn's fast `softmax_last_dim` has no backward and the composed `softmax`
//! materialises four tensors of [batch, heads, query, key] per layer; the
//! backward here is one more row-wise loop instead of four tensor ops.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use super::cpu_data::{cpu_slice, row_len};
use super::expf::expf_lanes;
use super::lanes::{build, each, each2, map_blocks, LANES};
use super::par::fill_rows;
use super::transpose::columns;
use crate::StageError;

pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor, StageError> {
    Ok(x.contiguous()?.apply_op1(SoftmaxOp)?)
}

struct SoftmaxOp;

impl CustomOp1 for SoftmaxOp {
    fn name(&self) -> &'static str {
        "softmax-last-dim-with-backward"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice::<f32>(storage, layout, "softmax", "input")?;
        let dim = row_len(layout, "softmax")?;
        let out = fill_rows(x.len(), dim, #[inline(always)] |first, rows| {
            let src = &x[first * dim..][..rows.len()];
            // 16 rows at a time: each row's max and sum in a lane of their own
            // (`columns`), taken in the row's order as a loop over one row does.
            for (src, dst) in src.chunks(LANES * dim).zip(rows.chunks_mut(LANES * dim)) {
                let n = src.len() / dim;
                let mut max = [f32::NEG_INFINITY; LANES];
                columns([src], n, dim, |_, [v]| max = each2(max, v, f32::max));
                for (r, (row, dst)) in src.chunks_exact(dim).zip(dst.chunks_exact_mut(dim)).enumerate() {
                    let max = max[r];
                    map_blocks(dst, [row], #[inline(always)] |[v]| expf_lanes(each(v, |v| v - max)));
                }
                let mut sum = [0f32; LANES];
                columns([&*dst], n, dim, |_, [e]| sum = each2(sum, e, |s, e| s + e));
                for (dst, sum) in dst.chunks_exact_mut(dim).zip(sum) {
                    for d in dst.iter_mut() {
                        *d /= sum;
                    }
                }
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(y.apply_op2(&dy.contiguous()?, SoftmaxBackward)?))
    }
}

/// d softmax: dx = y * (dy - sum(dy * y)) along the last dimension; operands (y, dy).
struct SoftmaxBackward;

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "softmax-last-dim-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = cpu_slice::<f32>(s1, l1, "softmax backward", "output")?;
        let dy = cpu_slice::<f32>(s2, l2, "softmax backward", "gradient")?;
        let dim = row_len(l1, "softmax backward")?;
        if y.len() != dy.len() {
            candle_core::bail!("softmax backward: output {:?} vs gradient {:?}", l1.dims(), l2.dims());
        }
        let dx = fill_rows(y.len(), dim, #[inline(always)] |first, rows| {
            let (y, dy) = (&y[first * dim..][..rows.len()], &dy[first * dim..][..rows.len()]);
            for ((y, dy), dx) in y.chunks(LANES * dim).zip(dy.chunks(LANES * dim)).zip(rows.chunks_mut(LANES * dim)) {
                // Each row's dot product in a lane, in index order from -0.0 (`Sum`'s start).
                let mut dot = [-0.0; LANES];
                columns([y, dy], y.len() / dim, dim, |_, [y, dy]| dot = build(|r| dot[r] + y[r] * dy[r]));
                for (((y, dy), dx), dot) in y.chunks_exact(dim).zip(dy.chunks_exact(dim)).zip(dx.chunks_exact_mut(dim)).zip(dot) {
                    for ((d, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                        *d = (g - dot) * y;
                    }
                }
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::expf::expf;
    use super::*;
    use candle_core::Device;

    #[test]
    fn rows_get_the_bits_of_one_row_at_a_time() {
        // 37 rows (two groups of 16 and a partial one) of 23 values (a whole block and a partial one).
        let (rows, dim) = (37, 23);
        let x: Vec<f32> = (0..rows * dim).map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0).collect();
        let dy: Vec<f32> = (0..rows * dim).map(|i| ((i * 104_729) % 997) as f32 / 11.0 - 40.0).collect();
        let xt = Tensor::from_vec(x.clone(), (rows, dim), &Device::Cpu).unwrap();
        let y = softmax_last_dim(&xt).unwrap();
        let dx = y.apply_op2(&Tensor::from_vec(dy.clone(), (rows, dim), &Device::Cpu).unwrap(), SoftmaxBackward).unwrap();
        let (y, dx) = (y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), dx.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        for r in 0..rows {
            let (row, g) = (&x[r * dim..][..dim], &dy[r * dim..][..dim]);
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = row.iter().map(|v| expf(v - max)).collect();
            let sum = e.iter().fold(0f32, |s, e| s + e);
            let want: Vec<f32> = e.iter().map(|e| e / sum).collect();
            let dot: f32 = want.iter().zip(g).map(|(a, b)| a * b).sum();
            for j in 0..dim {
                assert_eq!(y[r * dim + j].to_bits(), want[j].to_bits(), "softmax, row {r}, column {j}");
                assert_eq!(dx[r * dim + j].to_bits(), ((g[j] - dot) * want[j]).to_bits(), "backward, row {r}, column {j}");
            }
        }
    }
}
