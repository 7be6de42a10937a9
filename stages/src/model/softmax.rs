//! Softmax over the last dimension as a custom op with a backward pass.
//! candle-nn's fast `softmax_last_dim` has no backward and the composed `softmax`
//! materialises four tensors of [batch, heads, query, key] per layer; the
//! backward here is one more row-wise loop instead of four tensor ops.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use super::cpu_data::{cpu_slice, row_len};
use super::expf::expf_lanes;
use super::lanes::{each, map_blocks};
use super::par::fill_rows;
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
            for (row, dst) in src.chunks_exact(dim).zip(rows.chunks_exact_mut(dim)) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                // The exponentials in blocks, then the sum in its order.
                map_blocks(dst, [row], #[inline(always)] |[v]| expf_lanes(each(v, |v| v - max)));
                let sum = dst.iter().fold(0f32, |s, d| s + d);
                for d in dst.iter_mut() {
                    *d /= sum;
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
        let dx = fill_rows(y.len(), dim, |first, rows| {
            let (y, dy) = (&y[first * dim..][..rows.len()], &dy[first * dim..][..rows.len()]);
            for ((y, dy), dx) in y.chunks_exact(dim).zip(dy.chunks_exact(dim)).zip(rows.chunks_exact_mut(dim)) {
                let dot: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
                for ((d, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                    *d = (g - dot) * y;
                }
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}
