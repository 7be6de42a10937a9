//! The exact (erf) GELU as a custom op with a backward pass. The forward is
//! candle's `gelu_erf` formula element for element (same erf, same order), so
//! outputs are unchanged; candle's backward composes about ten full-size tensor
//! ops on [tokens, intermediate], this is one loop.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use super::cpu_data::f32_slice;
use crate::StageError;

pub fn gelu_erf(x: &Tensor) -> Result<Tensor, StageError> {
    Ok(x.contiguous()?.apply_op1(GeluErf)?)
}

fn erf(v: f32) -> f32 {
    candle_core::cpu::erf::erf_f32(v)
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-with-backward"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(storage, layout, "gelu", "input")?;
        let out = x.iter().map(|&v| (erf(v * std::f32::consts::FRAC_1_SQRT_2) + 1.) * 0.5 * v).collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(x.apply_op2(&dy.contiguous()?, GeluErfBackward)?))
    }
}

/// d gelu(x) / dx = 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi);
/// operands (x, dy), result dy * gelu'(x).
struct GeluErfBackward;

impl CustomOp2 for GeluErfBackward {
    fn name(&self) -> &'static str {
        "gelu-erf-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "gelu backward", "input")?;
        let dy = f32_slice(s2, l2, "gelu backward", "gradient")?;
        if x.len() != dy.len() {
            candle_core::bail!("gelu backward: input {:?} vs gradient {:?}", l1.dims(), l2.dims());
        }
        let inv_sqrt_2pi = 0.5 * std::f32::consts::FRAC_2_SQRT_PI * std::f32::consts::FRAC_1_SQRT_2;
        let dx = x
            .iter()
            .zip(dy)
            .map(|(&v, &g)| {
                let cdf = 0.5 * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
                g * (cdf + v * (-0.5 * v * v).exp() * inv_sqrt_2pi)
            })
            .collect();
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}
