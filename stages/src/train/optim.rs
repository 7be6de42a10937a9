//! AdamW with torch semantics (`torch.optim.AdamW`, single-tensor path) and the
//! two parameter groups of the transformers Trainer: weight decay on every
//! parameter except biases and LayerNorm weights.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::StageError;

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

struct Slot {
    var: Var,
    decay: bool,
    /// First and second moments, created on the first step with a gradient.
    moments: Option<(Tensor, Tensor)>,
    /// Steps taken by this parameter (torch keeps the count per parameter).
    steps: i32,
}

pub struct AdamW {
    slots: Vec<Slot>,
    weight_decay: f64,
}

/// transformers' `get_decay_parameter_names`: no decay for LayerNorm parameters
/// and for names matching bias / layernorm / rmsnorm / norm segments (case-insensitive).
pub fn decays(name: &str) -> bool {
    let n = name.to_lowercase();
    let norm_segment = n.split('.').any(|s| s == "norm" || s.ends_with("_norm"));
    !(n.contains("bias") || n.contains("layernorm") || n.contains("rmsnorm") || norm_segment)
}

impl AdamW {
    pub fn new(vars: Vec<(String, Var)>, weight_decay: f64) -> Result<AdamW, StageError> {
        if !(weight_decay >= 0.0) {
            return Err(StageError::param("weight_decay", format!("must be >= 0, got {weight_decay}")));
        }
        let slots = vars
            .into_iter()
            .map(|(name, var)| Slot { decay: decays(&name), var, moments: None, steps: 0 })
            .collect();
        Ok(AdamW { slots, weight_decay })
    }

    /// One update with learning rate `lr`; parameters without a gradient are
    /// skipped (no decay, no moment update), as torch does.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<(), StageError> {
        for slot in &mut self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else { continue };
            slot.steps += 1;
            let g1 = g.affine(1. - BETA1, 0.)?;
            let g2 = g.sqr()?.affine(1. - BETA2, 0.)?;
            let (m, v) = match slot.moments.take() {
                Some((m, v)) => ((m.affine(BETA1, 0.)? + g1)?, (v.affine(BETA2, 0.)? + g2)?),
                None => (g1, g2),
            };
            let step_size = lr / (1. - BETA1.powi(slot.steps));
            let bias_correction2_sqrt = (1. - BETA2.powi(slot.steps)).sqrt();
            let denom = v.sqrt()?.affine(1. / bias_correction2_sqrt, EPS)?;
            let p = slot.var.as_tensor();
            let decay = if slot.decay { 1. - lr * self.weight_decay } else { 1. };
            let p = (p.affine(decay, 0.)? - (m.div(&denom)?.affine(step_size, 0.))?)?;
            slot.var.set(&p)?;
            slot.moments = Some((m, v));
        }
        Ok(())
    }
}
