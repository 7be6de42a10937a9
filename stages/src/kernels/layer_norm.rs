//! LayerNorm over the last dimension as a custom op with a backward pass.
//! candle-nn's fast `layer_norm` has none (gradients silently stop there) and the
//! composed `layer_norm_slow` builds eight tensors per call; this computes the
//! forward in one pass over each row, like torch (biased variance, eps inside sqrt).

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, D};

use rayon::prelude::*;

use super::cpu_data::{cpu_slice, row_len};
use super::lanes::{build, each, each2, Lanes, LANES};
use super::par::fill_rows;
use super::transpose::columns;
use super::wide::wide;

/// Normalised `x` scaled by `weight` and shifted by `bias` (both [hidden]).
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op3(weight, bias, LayerNormOp { eps })
}

/// Means and 1 / sqrt(biased variance + eps) of the `rows` (at most 16) rows of
/// `dim` values at the start of `x`, lane r for row r. Each row's sums run in
/// index order (from -0.0, `Sum`'s start), the bits of a loop over one row; one
/// row at a time those loops would be a chain of dependent adds.
#[inline(always)]
fn row_stats(x: &[f32], rows: usize, dim: usize, eps: f64) -> (Lanes, Lanes) {
    let n = dim as f32;
    let mut sum = [-0.0; LANES];
    columns([x], rows, dim, |_, [v]| sum = each2(sum, v, |s, v| s + v));
    let mean = each(sum, |s| s / n);
    let mut squares = [-0.0; LANES];
    columns([x], rows, dim, |_, [v]| squares = build(|r| squares[r] + (v[r] - mean[r]) * (v[r] - mean[r])));
    (mean, each(squares, |s| 1.0 / (s / n + eps as f32).sqrt()))
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
        let out = fill_rows(
            x.len(),
            dim,
            #[inline(always)]
            |first, dst| {
                for (g, dst) in dst.chunks_mut(LANES * dim).enumerate() {
                    let x = &x[(first + g * LANES) * dim..][..dst.len()];
                    let (mean, rstd) = row_stats(x, dst.len() / dim, dim, self.eps);
                    for (r, (row, dst)) in x.chunks_exact(dim).zip(dst.chunks_exact_mut(dim)).enumerate() {
                        for (((y, &v), &w), &b) in dst.iter_mut().zip(row).zip(w).zip(b) {
                            *y = (v - mean[r]) * rstd[r] * w + b;
                        }
                    }
                }
            },
        );
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
            candle_core::bail!(
                "layer_norm backward: input {:?}, weight {}, gradient {:?}",
                l1.dims(),
                w.len(),
                l3.dims()
            );
        }
        let rows = x.len() / dim;
        let stats: Vec<(Lanes, Lanes)> =
            x.par_chunks(LANES * dim).map(|g| row_stats(g, g.len() / dim, dim, self.eps)).collect();
        let (mean, rstd): (Vec<f32>, Vec<f32>) =
            (0..rows).map(|i| (stats[i / LANES].0[i % LANES], stats[i / LANES].1[i % LANES])).unzip();
        // dx 16 rows at a time (their sums in lanes, as in `row_stats`), rows in parallel.
        let mut out = fill_rows(
            rows * dim,
            dim,
            #[inline(always)]
            |first, dst| {
                for (g, dx) in dst.chunks_mut(LANES * dim).enumerate() {
                    let (first, n) = (first + g * LANES, dx.len() / dim);
                    let (x, dy) = (&x[first * dim..][..dx.len()], &dy[first * dim..][..dx.len()]);
                    let (mean, rstd) = (&mean[first..first + n], &rstd[first..first + n]);
                    let (m, s) =
                        (build(|r| if r < n { mean[r] } else { 0.0 }), build(|r| if r < n { rstd[r] } else { 0.0 }));
                    let (mut g_sum, mut gx_sum) = ([0f32; LANES], [0f32; LANES]);
                    columns([x, dy], n, dim, |j, [x, dy]| {
                        let g = each(dy, |dy| dy * w[j]);
                        g_sum = each2(g_sum, g, |s, g| s + g);
                        gx_sum = build(|r| gx_sum[r] + g[r] * ((x[r] - m[r]) * s[r]));
                    });
                    for (r, ((x, dy), dx)) in
                        x.chunks_exact(dim).zip(dy.chunks_exact(dim)).zip(dx.chunks_exact_mut(dim)).enumerate()
                    {
                        let (mean, rstd) = (mean[r], rstd[r]);
                        let (g_mean, gx_mean) = (g_sum[r] / dim as f32, gx_sum[r] / dim as f32);
                        for (((dx, &x), &dy), &w) in dx.iter_mut().zip(x).zip(dy).zip(w) {
                            *dx = rstd * (dy * w - g_mean - (x - mean) * rstd * gx_mean);
                        }
                    }
                }
            },
        );
        // The column sums after, each column over the rows in row order; columns in
        // parallel, 16 at a time (a split of the rows would reorder the sums).
        let (mut dweight, mut dbias) = (vec![0f32; dim], vec![0f32; dim]);
        dweight.par_chunks_mut(LANES).zip(dbias.par_chunks_mut(LANES)).enumerate().for_each(|(c, (dw, db))| {
            wide(
                #[inline(always)]
                || {
                    let c0 = c * LANES;
                    for ((x, dy), (&mean, &rstd)) in
                        x.chunks_exact(dim).zip(dy.chunks_exact(dim)).zip(mean.iter().zip(&rstd))
                    {
                        let (x, dy) = (&x[c0..c0 + dw.len()], &dy[c0..c0 + dw.len()]);
                        for (((dw, db), &x), &dy) in dw.iter_mut().zip(db.iter_mut()).zip(x).zip(dy) {
                            *dw += dy * ((x - mean) * rstd);
                            *db += dy;
                        }
                    }
                },
            )
        });
        out.extend(dweight);
        out.extend(dbias);
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, dim))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_stats_give_the_bits_of_one_row_at_a_time() {
        // 16 and 7 rows of 37 values (two whole 16-column blocks and a partial one), magnitudes
        // far apart so that any change in the order of the adds shows in the bits.
        let dim = 37;
        let x: Vec<f32> =
            (0..16 * dim).map(|i| ((i * 7919) % 1000) as f32 * 10f32.powi((i % 9) as i32 - 4) - 3.0).collect();
        for rows in [16, 7] {
            let (mean, rstd) = row_stats(&x, rows, dim, 1e-12);
            for (r, row) in x.chunks_exact(dim).take(rows).enumerate() {
                let m = row.iter().sum::<f32>() / dim as f32;
                let var = row.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / dim as f32;
                assert_eq!(mean[r].to_bits(), m.to_bits(), "mean of row {r}");
                assert_eq!(rstd[r].to_bits(), (1.0 / (var + 1e-12f64 as f32).sqrt()).to_bits(), "rstd of row {r}");
            }
        }
    }
}
