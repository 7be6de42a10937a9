//! Global gradient-norm clipping (`torch.nn.utils.clip_grad_norm_`): all
//! gradients are scaled by min(1, max_norm / (total_norm + 1e-6)).
//!
//! The scale is not applied here: AdamW multiplies each gradient value by it as
//! it reads it (the same f32 product an in-place pass would store), which saves
//! a read and a write of every gradient per step (the 30522x384 word-embedding
//! gradient alone is 47 MB).

use candle_core::Var;
use rayon::prelude::*;

use super::gradients::{sum_blocks, with_values, Grad, Gradients};
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
            Some(Grad::Sum(parts)) => with_values(&parts, |parts| {
                let mut squares = Squares::default();
                sum_blocks(parts, 0..parts[0].len(), |_, block| squares.add(block));
                squares.total()
            }),
            Some(Grad::Rows(rows)) => {
                let mut squares = Squares::default();
                squares.add(&rows.values);
                Ok(squares.total())
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(sums.iter().sum::<f64>().sqrt())
}

/// The factor the gradients are multiplied by, or None when the norm is within `max_norm`.
pub fn clip_scale(total_norm: f64, max_norm: f64) -> Option<f32> {
    let coef = max_norm / (total_norm + 1e-6);
    (coef < 1.0).then_some(coef as f32)
}

/// A sum of squared values, accumulated in f64 over consecutive pieces. Eight running
/// sums (then added in a fixed order) let the loop vectorise; a single f64
/// accumulator is a serial dependency chain. Pieces a multiple of 8 long keep every
/// value in the lane it has in the whole, so the pieces give the bits of one pass,
/// and a table's rows a multiple of 8 wide those of the whole zero-padded table.
#[derive(Default)]
struct Squares {
    lanes: [f64; 8],
    tail: f64,
}

impl Squares {
    /// Only the last piece may have a length that is not a multiple of 8.
    fn add(&mut self, data: &[f32]) {
        let chunks = data.chunks_exact(8);
        self.tail += chunks.remainder().iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
        for chunk in chunks {
            for (lane, &v) in self.lanes.iter_mut().zip(chunk) {
                *lane += f64::from(v) * f64::from(v);
            }
        }
    }

    fn total(&self) -> f64 {
        self.lanes.iter().sum::<f64>() + self.tail
    }
}
