//! AdamW with torch semantics (`torch.optim.AdamW`, single-tensor path) and the
//! two parameter groups of the transformers Trainer: weight decay on every
//! parameter except biases and LayerNorm weights.
//!
//! The update is one fused in-place pass per parameter (decay, both moments,
//! bias-corrected step) instead of a dozen full-size temporaries: on a 22M
//! parameter model that is most of the optimizer's time.

use std::cell::RefCell;

use candle_core::{CpuStorage, InplaceOp1, Layout, Var};

use super::gradients::{sum_blocks, with_values, Grad, Gradients, TableRows, BLOCK};
use crate::kernels::par::zip3_rows_mut;
use crate::StageError;

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

struct Slot {
    var: Var,
    decay: bool,
    /// First and second moments, zero until the first step with a gradient.
    m: Vec<f32>,
    v: Vec<f32>,
    /// Steps taken by this parameter (torch keeps the count per parameter).
    steps: i32,
    /// For a gradient kept as a table's rows: the rows some step's gradient held.
    /// The others have both moments zero, and a zero gradient leaves them zero and
    /// the parameter only decayed (m / (sqrt(v) / c + eps) = 0 / eps = 0): about half
    /// of MiniLM's 30522 word rows never occur in SST-2.
    touched: Vec<bool>,
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
        // Written so that NaN is rejected too.
        if weight_decay.is_nan() || weight_decay < 0.0 {
            return Err(StageError::param("weight_decay", format!("must be >= 0, got {weight_decay}")));
        }
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let n = var.elem_count();
                Slot { decay: decays(&name), var, m: vec![0.0; n], v: vec![0.0; n], steps: 0, touched: Vec::new() }
            })
            .collect();
        Ok(AdamW { slots, weight_decay })
    }

    /// One update with learning rate `lr`, every gradient value multiplied by
    /// `grad_scale` first (clipping); parameters without a gradient are skipped
    /// (no decay, no moment update), as torch does. A gradient kept as a table's
    /// rows is zero in the other rows, which are updated as a zero would update them.
    pub fn step(&mut self, grads: &Gradients, lr: f64, grad_scale: Option<f32>) -> Result<(), StageError> {
        for slot in &mut self.slots {
            let Some(grad) = grads.get(&slot.var) else { continue };
            slot.steps += 1;
            let step = Step {
                decay: if slot.decay { (1. - lr * self.weight_decay) as f32 } else { 1.0 },
                step_size: (lr / (1. - BETA1.powi(slot.steps))) as f32,
                bias_correction2_sqrt: (1. - BETA2.powi(slot.steps)).sqrt() as f32,
                // x * 1.0 is x, bit for bit: one loop serves both cases.
                grad_scale: grad_scale.unwrap_or(1.0),
            };
            let (var, moments) = (&slot.var, RefCell::new((&mut slot.m, &mut slot.v)));
            match grad {
                Grad::Sum(parts) => with_values(&parts, |parts| {
                    var.as_tensor().inplace_op1(&Update { step, grad: Source::Sum(parts), moments })
                })??,
                Grad::Rows(rows) => {
                    let table_rows = var.elem_count() / rows.width.max(1);
                    slot.touched.resize(table_rows, false);
                    let touched = &slot.touched;
                    var.as_tensor().inplace_op1(&Update { step, grad: Source::Rows(rows, touched), moments })?;
                    for &row in &rows.rows {
                        slot.touched[row as usize] = true;
                    }
                }
            }
        }
        Ok(())
    }
}

/// One step's constants for a parameter.
#[derive(Clone, Copy)]
struct Step {
    decay: f32,
    step_size: f32,
    bias_correction2_sqrt: f32,
    grad_scale: f32,
}

impl Step {
    /// torch's per-element sequence, in f32: g *= grad_scale; p *= decay; m.lerp_(g, 1 - b1);
    /// v = v * b2 + (1 - b2) g^2; p -= step_size * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    #[inline(always)]
    fn apply(&self, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        let (b1, b2, eps) = (BETA1 as f32, BETA2 as f32, EPS as f32);
        let g = g * self.grad_scale;
        *p *= self.decay;
        *m += (1.0 - b1) * (g - *m);
        *v = *v * b2 + (1.0 - b2) * g * g;
        let denom = v.sqrt() / self.bias_correction2_sqrt + eps;
        *p -= self.step_size * *m / denom;
    }

    /// `apply` along rows (zipped slices instead of indexing: no bounds checks, so
    /// the loop vectorises, the same operations in the same order per element).
    #[inline(always)]
    fn apply_row(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            self.apply(p, g, m, v);
        }
    }

    /// `apply_row` with a zero gradient and both moments zero: the moments stay zero.
    #[inline(always)]
    fn apply_row_untouched(&self, p: &mut [f32]) {
        p.iter_mut().for_each(|p| *p *= self.decay);
    }

    /// `apply_row` with a zero gradient.
    #[inline(always)]
    fn apply_row_zero(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32]) {
        for ((p, m), v) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()) {
            self.apply(p, 0.0, m, v);
        }
    }
}

enum Source<'a> {
    /// The sum of these, added as they are read.
    Sum(&'a [&'a [f32]]),
    /// A table's rows, and which rows earlier steps touched.
    Rows(&'a TableRows, &'a [bool]),
}

/// The in-place update of one parameter. Elements are independent, so pieces run in parallel.
struct Update<'a, 'g> {
    step: Step,
    grad: Source<'g>,
    moments: RefCell<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

impl InplaceOp1 for Update<'_, '_> {
    fn name(&self) -> &'static str {
        "adamw-update"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let Some((p0, p1)) = layout.contiguous_offsets() else {
            candle_core::bail!("adamw: the parameter must be contiguous")
        };
        let CpuStorage::F32(p) = storage else { candle_core::bail!("adamw: f32 only") };
        let p = &mut p[p0..p1];
        let mut moments = self.moments.borrow_mut();
        let (m, v) = &mut *moments;
        let step = self.step;
        match self.grad {
            Source::Sum(parts) => {
                if parts.iter().any(|g| g.len() != p.len()) || p.len() != m.len() {
                    candle_core::bail!("adamw: parameter of {} values, gradient of {}", p.len(), parts[0].len());
                }
                zip3_rows_mut(p, m, v, BLOCK, |first, p, m, v| {
                    let start = first * BLOCK;
                    sum_blocks(parts, start..start + p.len(), |at, g| {
                        let end = at + g.len();
                        step.apply_row(&mut p[at..end], g, &mut m[at..end], &mut v[at..end]);
                    });
                });
            }
            Source::Rows(grad, touched) => {
                let w = grad.width;
                let fits = w > 0 && p.len() % w == 0 && grad.values.len() == grad.rows.len() * w;
                if !fits || p.len() != m.len() || touched.len() != p.len() / w {
                    candle_core::bail!(
                        "adamw: a table of {} values, rows of {w} for {} rows",
                        p.len(),
                        grad.rows.len()
                    );
                }
                if grad.rows.last().is_some_and(|&r| r as usize >= touched.len()) {
                    candle_core::bail!("adamw: a gradient row outside a table of {} rows", touched.len());
                }
                zip3_rows_mut(p, m, v, w, |first, p, m, v| {
                    let mut next = grad.rows.partition_point(|&r| (r as usize) < first);
                    let rows = p.chunks_exact_mut(w).zip(m.chunks_exact_mut(w)).zip(v.chunks_exact_mut(w));
                    for (row, ((p, m), v)) in (first..).zip(rows) {
                        if grad.rows.get(next).is_some_and(|&r| r as usize == row) {
                            step.apply_row(p, &grad.values[next * w..][..w], m, v);
                            next += 1;
                        } else if touched[row] {
                            step.apply_row_zero(p, m, v);
                        } else {
                            step.apply_row_untouched(p);
                        }
                    }
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::backprop::GradStore;
    use candle_core::{Device, Tensor};

    use super::*;

    /// A gradient kept as a table's rows updates the table as the same gradient
    /// written out in full (zero in the other rows) does, bit for bit: rows in the
    /// batch, rows an earlier step touched, and rows no step has touched yet.
    #[test]
    fn table_rows_update_as_the_full_gradient_does() {
        let (rows, width) = (700, 48);
        let init: Vec<f32> = (0..rows * width).map(|i| (i as f32 * 0.37).sin()).collect();
        let table = |name: &str| {
            let var = Var::from_tensor(&Tensor::from_vec(init.clone(), (rows, width), &Device::Cpu).unwrap()).unwrap();
            (var.clone(), AdamW::new(vec![(name.into(), var)], 0.01).unwrap())
        };
        let ((by_rows, mut rows_optim), (full, mut full_optim)) = (table("words"), table("words"));
        for (step, ids) in [vec![3u32, 9, 650], vec![9, 10, 699], vec![0, 3, 400]].into_iter().enumerate() {
            let values: Vec<f32> = (0..ids.len() * width).map(|i| ((i + step) as f32 * 0.91).cos()).collect();
            let mut dense = vec![0f32; rows * width];
            for (k, &id) in ids.iter().enumerate() {
                dense[id as usize * width..][..width].copy_from_slice(&values[k * width..][..width]);
            }
            let scale = (step == 1).then_some(0.5);
            let grad = TableRows { rows: ids, values, width };
            rows_optim
                .step(&Gradients::with_table_rows(GradStore::default(), by_rows.clone(), grad), 1e-3, scale)
                .unwrap();
            let mut store = GradStore::default();
            store.insert(full.as_tensor(), Tensor::from_vec(dense, (rows, width), &Device::Cpu).unwrap());
            full_optim.step(&Gradients::dense(store), 1e-3, scale).unwrap();
            let bits = |v: &Var| {
                v.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            };
            assert_eq!(bits(&by_rows), bits(&full), "step {step}");
        }
    }
}
