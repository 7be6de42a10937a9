//! Integrated gradients (Sundararajan et al., 2017) over the input word embeddings.
//!
//! Conventions (fixed here so that every number the stage writes means the same thing):
//! - F is the softmax **probability** of the target class, so the attributions of a
//!   sentence add up to how much its words raised that probability over the baseline's,
//!   a number on a scale users can read.
//! - The path integral is approximated with the **trapezoid rule** on `steps` equal
//!   intervals (`steps + 1` gradient evaluations, alpha = 0, 1/steps, …, 1). It is exact
//!   when the gradient changes linearly along the path, and its error falls as 1/steps²
//!   where a left or right sum falls only as 1/steps; it also yields F(x) and F(baseline) from the same forwards.
//! - Attributions are (x - x') · mean gradient, summed over the hidden dimension, one
//!   score per token. Completeness says they add up to F(x) - F(x'); the stage reports
//!   the gap |Σ attr - (F(x) - F(x'))| as the check that `steps` was enough.

use candle_core::{DType, Tensor, Var, D};

use crate::StageError;

/// Interpolation points per forward/backward pass: bounds memory for long sentences
/// and large encoders. Chunks are summed in a fixed order, so results do not depend on it
/// beyond float rounding, and it is a constant, so they are reproducible.
const CHUNK: usize = 16;

/// The attribution of one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// One score per token (summed over the hidden dimension).
    pub scores: Vec<f32>,
    /// The class whose probability is explained.
    pub target: usize,
    /// F(x): the target's probability for the input.
    pub f_input: f64,
    /// F(x'): the target's probability for the baseline.
    pub f_baseline: f64,
    pub steps: usize,
}

impl Attribution {
    /// |Σ attr - (F(x) - F(x'))|: zero for an exact path integral.
    pub fn completeness_gap(&self) -> f64 {
        let total: f64 = self.scores.iter().map(|&s| f64::from(s)).sum();
        (total - (self.f_input - self.f_baseline)).abs()
    }

    /// The gap as a fraction of |F(x) - F(x')| (infinite when input and baseline score the same).
    pub fn relative_gap(&self) -> f64 {
        self.completeness_gap() / (self.f_input - self.f_baseline).abs()
    }
}

/// Integrated gradients of `probability(logits_of(e))[target]` along the straight line from
/// `baseline` to `input` (both `[t, h]`). `logits_of` maps a batch of embeddings
/// `[b, t, h]` to logits `[b, classes]` and must treat batch rows independently (eval mode).
pub fn integrated_gradients<F>(
    logits_of: F,
    input: &Tensor,
    baseline: &Tensor,
    target: usize,
    steps: usize,
) -> Result<Attribution, StageError>
where
    F: Fn(&Tensor) -> Result<Tensor, StageError>,
{
    if steps == 0 {
        return Err(StageError::param("ig_steps", "must be at least 1"));
    }
    if input.dims() != baseline.dims() || input.rank() != 2 {
        return Err(StageError::Failed(format!(
            "integrated gradients: input {:?} and baseline {:?} must both be [tokens, hidden]",
            input.dims(),
            baseline.dims()
        )));
    }
    let input = input.to_dtype(DType::F32)?;
    let baseline = baseline.to_dtype(DType::F32)?;
    let delta = (&input - &baseline)?;
    let device = input.device();
    let alphas: Vec<f32> = (0..=steps).map(|k| k as f32 / steps as f32).collect();
    // Trapezoid weights: half at both ends, so the weighted sum is the mean gradient.
    let weights: Vec<f32> = (0..=steps).map(|k| if k == 0 || k == steps { 0.5 } else { 1.0 } / steps as f32).collect();

    let mut mean_grad = input.zeros_like()?;
    let mut probabilities = Vec::with_capacity(alphas.len());
    for (chunk_alphas, chunk_weights) in alphas.chunks(CHUNK).zip(weights.chunks(CHUNK)) {
        let n = chunk_alphas.len();
        let alpha = Tensor::from_slice(chunk_alphas, (n, 1, 1), device)?;
        let points =
            Var::from_tensor(&baseline.unsqueeze(0)?.broadcast_add(&delta.unsqueeze(0)?.broadcast_mul(&alpha)?)?)?;
        let logits = logits_of(points.as_tensor())?;
        if target >= logits.dim(D::Minus1)? {
            return Err(StageError::Failed(format!(
                "integrated gradients: target class {target} but logits {:?}",
                logits.dims()
            )));
        }
        // The composed softmax (not the fused kernel) so that the gradient flows; in f64
        // because F(x) - F(x') can be tiny (an untrained model) and is compared with Σ attr.
        let p = candle_nn::ops::softmax(&logits.to_dtype(DType::F64)?, D::Minus1)?.narrow(1, target, 1)?.squeeze(1)?;
        probabilities.extend(p.to_vec1::<f64>()?);
        let grads = p.sum_all()?.backward()?;
        let grad = grads.get(points.as_tensor()).ok_or_else(|| {
            StageError::Failed(
                "integrated gradients: the model's output does not depend on its input embeddings".into(),
            )
        })?;
        let w = Tensor::from_slice(chunk_weights, (n, 1, 1), device)?;
        mean_grad = (mean_grad + grad.broadcast_mul(&w)?.sum(0)?)?;
    }
    let scores = (delta * mean_grad)?.sum(D::Minus1)?.to_vec1::<f32>()?;
    Ok(Attribution { scores, target, f_input: probabilities[steps], f_baseline: probabilities[0], steps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// A two-class "model": logits = (Σ e·w0, Σ e·w1) with a tanh for curvature.
    fn toy(e: &Tensor) -> Result<Tensor, StageError> {
        let w = Tensor::new(&[[[1.0f32, -2.0], [0.5, 3.0]], [[-1.0, 0.0], [2.0, -0.5]]], e.device())?;
        let l0 = e.broadcast_mul(&w.get(0)?)?.tanh()?.sum((1, 2))?;
        let l1 = e.broadcast_mul(&w.get(1)?)?.sum((1, 2))?;
        Ok(Tensor::stack(&[l0, l1], 1)?)
    }

    #[test]
    fn attributions_add_up_to_the_change_in_probability() {
        let x = Tensor::new(&[[0.8f32, -0.3], [0.6, 0.9]], &Device::Cpu).unwrap();
        let base = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
        let fine = integrated_gradients(toy, &x, &base, 1, 50).unwrap();
        assert_eq!(fine.scores.len(), 2);
        // F(x), F(x') by direct evaluation.
        let p = |e: &Tensor| {
            candle_nn::ops::softmax(&toy(&e.unsqueeze(0).unwrap()).unwrap(), 1).unwrap().to_vec2::<f32>().unwrap()[0][1]
        };
        assert!((fine.f_input - f64::from(p(&x))).abs() < 1e-6 && (fine.f_baseline - f64::from(p(&base))).abs() < 1e-6);
        assert!(fine.relative_gap() < 1e-3, "gap {} of {}", fine.completeness_gap(), fine.f_input - fine.f_baseline);
        // One trapezoid is a poor integral: the gap measures something.
        let coarse = integrated_gradients(toy, &x, &base, 1, 1).unwrap();
        assert!(coarse.completeness_gap() > 10.0 * fine.completeness_gap());
        // Per-token scores converge (chunk boundaries fall at different alphas for 50 and 400 steps).
        let reference = integrated_gradients(toy, &x, &base, 1, 400).unwrap();
        for (a, b) in fine.scores.iter().zip(&reference.scores) {
            assert!((a - b).abs() < 1e-3 * b.abs().max(1e-3), "{:?} vs {:?}", fine.scores, reference.scores);
        }
    }

    #[test]
    fn a_token_equal_to_its_baseline_gets_nothing() {
        let x = Tensor::new(&[[0.8f32, -0.3], [0.0, 0.0]], &Device::Cpu).unwrap();
        let base = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
        let a = integrated_gradients(toy, &x, &base, 0, 20).unwrap();
        assert_eq!(a.scores[1], 0.0);
        assert!(a.scores[0] != 0.0);
    }

    #[test]
    fn rejects_zero_steps_and_mismatched_shapes() {
        let x = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(integrated_gradients(toy, &x, &x, 0, 0).is_err());
        let y = Tensor::zeros((3, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(integrated_gradients(toy, &x, &y, 0, 10).is_err());
    }
}
