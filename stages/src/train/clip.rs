//! Global gradient-norm clipping (`torch.nn.utils.clip_grad_norm_`): all
//! gradients are scaled by min(1, max_norm / (total_norm + 1e-6)).
//!
//! The scale is not applied here: AdamW multiplies each gradient value by it as
//! it reads it (the same f32 product an in-place pass would store), which saves
//! a read and a write of every gradient per step (the 30522x384 word-embedding
//! gradient alone is 47 MB).

use candle_core::{Tensor, Var};
use rayon::prelude::*;

use super::gradients::{Grad, Gradients};
use crate::kernels::cpu_data::storage_slice;
use crate::StageError;

/// The total L2 norm of the gradients of `vars`. Each gradient's sum of squares is
/// computed on its own (in parallel), then they are added in `vars`' order. A
/// table's gradient kept as rows (`Grad::Rows`) is summed over those rows: of a
/// 30522-row table, the few hundred a batch uses.
pub fn global_norm(grads: &Gradients, vars: &[Var]) -> Result<f64, StageError> {
    let sums: Vec<f64> = vars
        .par_iter()
        .map(|var| match grads.get(var) {
            None => Ok(0.0),
            Some(Grad::Dense(g)) => dense_sum_of_squares(g),
            Some(Grad::Rows(rows)) => Ok(sum_of_squares(&rows.values)),
        })
        .collect::<Result<_, _>>()?;
    Ok(sums.iter().sum::<f64>().sqrt())
}

/// The factor the gradients are multiplied by, or None when the norm is within `max_norm`.
pub fn clip_scale(total_norm: f64, max_norm: f64) -> Option<f32> {
    let coef = max_norm / (total_norm + 1e-6);
    (coef < 1.0).then_some(coef as f32)
}

fn dense_sum_of_squares(g: &Tensor) -> Result<f64, StageError> {
    let g = g.contiguous()?;
    let (storage, layout) = g.storage_and_layout();
    Ok(sum_of_squares(storage_slice::<f32>(&storage, layout, "gradient clipping", "gradient")?))
}

/// Sum of squared values, accumulated in f64. A table's rows a multiple of 8 wide
/// start at lane 0, so the rows alone give the bits of the whole zero-padded table.
fn sum_of_squares(data: &[f32]) -> f64 {
    // Eight running sums (then added in a fixed order) let the loop vectorise;
    // a single f64 accumulator is a serial dependency chain.
    let mut lanes = [0f64; 8];
    let chunks = data.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f64::from(v) * f64::from(v);
        }
    }
    lanes.iter().sum::<f64>() + tail
}
