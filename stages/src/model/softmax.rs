//! Softmax over the last dimension as a custom op with a backward pass.
//! candle-nn's fast `softmax_last_dim` has no backward and the composed `softmax`
//! materialises four tensors of [batch, heads, query, key] per layer.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor, D};

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
        let x = match (storage, layout.contiguous_offsets()) {
            (CpuStorage::F32(data), Some((start, end))) => &data[start..end],
            _ => candle_core::bail!("softmax: input must be contiguous f32"),
        };
        let dim = layout.dims().last().copied().unwrap_or(0);
        if dim == 0 {
            candle_core::bail!("softmax: empty last dimension in {:?}", layout.dims());
        }
        let mut out = vec![0f32; x.len()];
        for (row, dst) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (d, v) in dst.iter_mut().zip(row) {
                *d = (v - max).exp();
                sum += *d;
            }
            for d in dst.iter_mut() {
                *d /= sum;
            }
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    /// d softmax: dx = y * (dy - sum(dy * y)) along the last dimension.
    fn bwd(&self, _x: &Tensor, y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let dot = (dy * y)?.sum_keepdim(D::Minus1)?;
        Ok(Some((dy.broadcast_sub(&dot)? * y)?))
    }
}
