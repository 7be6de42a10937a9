//! LayerNorm over the last dimension as a custom op with a backward pass.
//! candle-nn's fast `layer_norm` has none (gradients silently stop there) and the
//! composed `layer_norm_slow` builds eight tensors per call; this computes the
//! forward in one pass over each row, like torch (biased variance, eps inside sqrt).

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, D};

use rayon::prelude::*;

use super::cpu_data::{cpu_slice, row_len};
use super::par::fill_rows;
use crate::StageError;

/// Normalised `x` scaled by `weight` and shifted by `bias` (both [hidden]).
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor, StageError> {
    let x = x.contiguous()?;
    Ok(x.apply_op3(weight, bias, LayerNormOp { eps })?)
}

/// Mean and 1 / sqrt(biased variance + eps) of one row.
fn row_stats(row: &[f32], eps: f64) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps as f32).sqrt())
}

struct LayerNormOp {
    eps: f64,
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
        let x = cpu_slice::<f32>(s1, l1, "layer_norm", "input")?;
        let w = cpu_slice::<f32>(s2, l2, "layer_norm", "weight")?;
        let b = cpu_slice::<f32>(s3, l3, "layer_norm", "bias")?;
        let dim = row_len(l1, "layer_norm")?;
        if w.len() != dim || b.len() != dim {
            candle_core::bail!("layer_norm: input {:?} vs weight {} / bias {}", l1.dims(), w.len(), b.len());
        }
        let out = fill_rows(x.len(), dim, |first, rows| {
            for (row, dst) in x[first * dim..].chunks_exact(dim).zip(rows.chunks_exact_mut(dim)) {
                let (mean, rstd) = row_stats(row, self.eps);
                for i in 0..dim {
                    dst[i] = (row[i] - mean) * rstd * w[i] + b[i];
                }
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

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
        let packed = x.apply_op3(weight, &dy.contiguous()?, LayerNormBackward { eps: self.eps })?;
        let dx = packed.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dweight = packed.get(rows)?;
        let dbias = packed.get(rows + 1)?;
        Ok((Some(dx), Some(dweight), Some(dbias)))
    }
}

/// Standard LayerNorm gradients in one pass per row: with xhat = (x - mean) * rstd
/// and g = dy * weight, dx = rstd * (g - mean(g) - xhat * mean(g * xhat));
/// dweight = sum(dy * xhat); dbias = sum(dy). Operands (x, weight, dy); the
/// result packs dx's rows, then dweight, then dbias, as [rows + 2, dim].
struct LayerNormBackward {
    eps: f64,
}

impl CustomOp3 for LayerNormBackward {
    fn name(&self) -> &'static str {
        "layer-norm-backward"
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
        let x = cpu_slice::<f32>(s1, l1, "layer_norm backward", "input")?;
        let w = cpu_slice::<f32>(s2, l2, "layer_norm backward", "weight")?;
        let dy = cpu_slice::<f32>(s3, l3, "layer_norm backward", "gradient")?;
        let dim = row_len(l1, "layer_norm backward")?;
        if w.len() != dim || dy.len() != x.len() {
            candle_core::bail!("layer_norm backward: input {:?}, weight {}, gradient {:?}", l1.dims(), w.len(), l3.dims());
        }
        let rows = x.len() / dim;
        let stats: Vec<(f32, f32)> = x.par_chunks(dim).map(|row| row_stats(row, self.eps)).collect();
        // dx row by row, rows in parallel.
        let mut out = fill_rows(rows * dim, dim, |first, dst| {
            let (x, dy) = (&x[first * dim..], &dy[first * dim..]);
            for (((x, dy), dx), &(mean, rstd)) in
                x.chunks_exact(dim).zip(dy.chunks_exact(dim)).zip(dst.chunks_exact_mut(dim)).zip(&stats[first..])
            {
                let (mut g_sum, mut gx_sum) = (0f32, 0f32);
                for i in 0..dim {
                    let xhat = (x[i] - mean) * rstd;
                    let g = dy[i] * w[i];
                    g_sum += g;
                    gx_sum += g * xhat;
                }
                let (g_mean, gx_mean) = (g_sum / dim as f32, gx_sum / dim as f32);
                for i in 0..dim {
                    dx[i] = rstd * (dy[i] * w[i] - g_mean - (x[i] - mean) * rstd * gx_mean);
                }
            }
        });
        // The column sums after, in row order (a parallel split would reorder the sums).
        let (mut dweight, mut dbias) = (vec![0f32; dim], vec![0f32; dim]);
        for ((x, dy), &(mean, rstd)) in x.chunks_exact(dim).zip(dy.chunks_exact(dim)).zip(&stats) {
            for i in 0..dim {
                dweight[i] += dy[i] * ((x[i] - mean) * rstd);
                dbias[i] += dy[i];
            }
        }
        out.extend(dweight);
        out.extend(dbias);
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, dim))))
    }
}
