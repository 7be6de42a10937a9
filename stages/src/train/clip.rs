//! Global gradient-norm clipping (`torch.nn.utils.clip_grad_norm_`): all
//! gradients are scaled by min(1, max_norm / (total_norm + 1e-6)).
//!
//! The scale is not applied here: AdamW multiplies each gradient value by it as
//! it reads it (the same f32 product an in-place pass would store), which saves
//! a read and a write of every gradient per step (the 30522x384 word-embedding
//! gradient alone is 47 MB).

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use rayon::prelude::*;

use crate::kernels::cpu_data::storage_slice;
use crate::StageError;

/// Rows of one table-shaped gradient that hold all its nonzero values: a word-embedding
/// table's gradient is zero outside the batch's token ids.
pub struct NonzeroRows<'a> {
    pub var: &'a Var,
    /// Row indices, ascending, each once.
    pub rows: &'a [u32],
}

/// The total L2 norm of the gradients of `vars`. Each gradient's sum of squares is
/// computed on its own (in parallel), then they are added in `vars`' order. With
/// `nonzero`, that gradient's sum reads only those rows (of a 30522-row table, the few
/// hundred a batch uses), with the same bits as reading all of it.
pub fn global_norm(grads: &GradStore, vars: &[Var], nonzero: Option<&NonzeroRows>) -> Result<f64, StageError> {
    let sums: Vec<f64> = vars
        .par_iter()
        .map(|var| {
            let rows = nonzero.filter(|n| n.var.as_tensor().id() == var.as_tensor().id()).map(|n| n.rows);
            grads.get(var.as_tensor()).map_or(Ok(0.0), |g| sum_of_squares(g, rows))
        })
        .collect::<Result<_, _>>()?;
    Ok(sums.iter().sum::<f64>().sqrt())
}

/// The factor the gradients are multiplied by, or None when the norm is within `max_norm`.
pub fn clip_scale(total_norm: f64, max_norm: f64) -> Option<f32> {
    let coef = max_norm / (total_norm + 1e-6);
    (coef < 1.0).then_some(coef as f32)
}

/// Sum of squared elements of an f32 gradient, accumulated in f64; with `rows`, the
/// elements of those rows of a 2-D gradient, the others being zero.
fn sum_of_squares(g: &Tensor, rows: Option<&[u32]>) -> Result<f64, StageError> {
    let g = g.contiguous()?;
    let (storage, layout) = g.storage_and_layout();
    let data = storage_slice::<f32>(&storage, layout, "gradient clipping", "gradient")?;
    // Eight running sums (then added in a fixed order) let the loop vectorise;
    // a single f64 accumulator is a serial dependency chain.
    let mut lanes = [0f64; 8];
    let add = |lanes: &mut [f64; 8], chunk: &[f32]| {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f64::from(v) * f64::from(v);
        }
    };
    // Rows a multiple of 8 wide start at lane 0, so skipping a zero row skips
    // adding +0 to each lane, which leaves every sum as it was.
    if let (Some(rows), [_, width]) = (rows, g.dims()) {
        if width % 8 == 0 {
            for &row in rows {
                let start = row as usize * width;
                let row = data.get(start..start + width).ok_or_else(|| {
                    StageError::Input(format!("gradient clipping: row {row} of a {:?} gradient", g.dims()))
                })?;
                row.chunks_exact(8).for_each(|chunk| add(&mut lanes, chunk));
            }
            return Ok(lanes.iter().sum::<f64>());
        }
    }
    let chunks = data.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    chunks.for_each(|chunk| add(&mut lanes, chunk));
    Ok(lanes.iter().sum::<f64>() + tail)
}
