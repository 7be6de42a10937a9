//! LayerNorm over the last dimension as a custom op with a backward pass.
//! candle-nn's fast `layer_norm` has none (gradients silently stop there) and the
//! composed `layer_norm_slow` builds eight tensors per call; this computes the
//! forward in one pass over each row, like torch (biased variance, eps inside sqrt).

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, D};

use crate::StageError;

/// Normalised `x` scaled by `weight` and shifted by `bias` (both [hidden]).
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor, StageError> {
    let x = x.contiguous()?;
    Ok(x.apply_op3(weight, bias, LayerNormOp { eps })?)
}

struct LayerNormOp {
    eps: f64,
}

fn f32_slice<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(data), Some((start, end))) => Ok(&data[start..end]),
        (CpuStorage::F32(_), None) => candle_core::bail!("layer_norm: {what} must be contiguous"),
        _ => candle_core::bail!("layer_norm: {what} must be f32"),
    }
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer-norm-with-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "input")?;
        let w = f32_slice(s2, l2, "weight")?;
        let b = f32_slice(s3, l3, "bias")?;
        let dim = l1.dims().last().copied().unwrap_or(0);
        if dim == 0 || w.len() != dim || b.len() != dim {
            candle_core::bail!("layer_norm: input {:?} vs weight {} / bias {}", l1.dims(), w.len(), b.len());
        }
        let mut out = vec![0f32; x.len()];
        for (row, dst) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
            let mean = row.iter().sum::<f32>() / dim as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / dim as f32;
            let rstd = 1.0 / (var + self.eps as f32).sqrt();
            for i in 0..dim {
                dst[i] = (row[i] - mean) * rstd * w[i] + b[i];
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    /// Standard LayerNorm gradients: with xhat = (x - mean) * rstd and g = dy * weight,
    /// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); dweight = sum(dy * xhat); dbias = sum(dy).
    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dim = x.dim(D::Minus1)?;
        let rows = x.elem_count() / dim;
        let x2 = x.reshape((rows, dim))?;
        let dy2 = dy.reshape((rows, dim))?;
        let mean = x2.mean_keepdim(1)?;
        let centred = x2.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(1)?;
        let rstd = (var + self.eps)?.sqrt()?.recip()?;
        let xhat = centred.broadcast_mul(&rstd)?;
        let g = dy2.broadcast_mul(weight)?;
        let g_mean = g.mean_keepdim(1)?;
        let gx_mean = (&g * &xhat)?.mean_keepdim(1)?;
        let dx = g.broadcast_sub(&g_mean)?.sub(&xhat.broadcast_mul(&gx_mean)?)?.broadcast_mul(&rstd)?;
        let dweight = (&dy2 * &xhat)?.sum(0)?;
        let dbias = dy2.sum(0)?;
        Ok((Some(dx.reshape(x.shape())?), Some(dweight), Some(dbias)))
    }
}
