//! Global gradient-norm clipping (`torch.nn.utils.clip_grad_norm_`): all
//! gradients are scaled by min(1, max_norm / (total_norm + 1e-6)).
//!
//! Both passes work on the gradients' storage directly: `sqr().sum_all()` and
//! `affine` allocated two full copies of every gradient per step (the 30522x384
//! word-embedding gradient alone is 47 MB), page faults and all.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, InplaceOp1, Layout, Storage, Tensor, Var};

use crate::StageError;

/// Clips the gradients of `vars` in place; returns the total L2 norm before clipping.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64, StageError> {
    let mut sum_sq = 0f64;
    for var in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            sum_sq += sum_of_squares(g)?;
        }
    }
    let total = sum_sq.sqrt();
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        for var in vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                // Each stored gradient is the fresh result of backprop's accumulation,
                // shared with no other tensor, so scaling it in place is safe.
                g.inplace_op1(&Scale(coef as f32))?;
            }
        }
    }
    Ok(total)
}

/// Sum of squared elements of an f32 gradient, accumulated in f64.
fn sum_of_squares(g: &Tensor) -> Result<f64, StageError> {
    let g = g.contiguous()?;
    let (storage, layout) = g.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(data)), Some((start, end))) => {
            // Eight running sums (then added in a fixed order) let the loop vectorise;
            // a single f64 accumulator is a serial dependency chain.
            let data = &data[start..end];
            let mut lanes = [0f64; 8];
            let chunks = data.chunks_exact(8);
            let tail: f64 = chunks.remainder().iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            for chunk in chunks {
                for (lane, &v) in lanes.iter_mut().zip(chunk) {
                    *lane += f64::from(v) * f64::from(v);
                }
            }
            Ok(lanes.iter().sum::<f64>() + tail)
        }
        _ => Err(StageError::Failed(format!("gradient clipping needs contiguous f32 CPU gradients, got {:?}", g.dtype()))),
    }
}

/// Multiplies the elements a layout addresses by a constant (as `affine(coef, 0)` did).
struct Scale(f32);

impl InplaceOp1 for Scale {
    fn name(&self) -> &'static str {
        "scale-gradient"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let (CpuStorage::F32(data), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("gradient clipping: gradient must be contiguous f32")
        };
        data[start..end].iter_mut().for_each(|v| *v *= self.0);
        Ok(())
    }
}
