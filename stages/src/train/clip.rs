//! Global gradient-norm clipping (`torch.nn.utils.clip_grad_norm_`): all
//! gradients are scaled by min(1, max_norm / (total_norm + 1e-6)).

use candle_core::backprop::GradStore;
use candle_core::Var;

use crate::StageError;

/// Clips the gradients of `vars` in place; returns the total L2 norm before clipping.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64, StageError> {
    let mut sum_sq = 0f64;
    for var in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            sum_sq += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
        }
    }
    let total = sum_sq.sqrt();
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        for var in vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                let clipped = g.affine(coef, 0.)?;
                grads.insert(var.as_tensor(), clipped);
            }
        }
    }
    Ok(total)
}
