//! The residual sum a + b of two same-shape tensors as a custom op: candle's add
//! runs on one thread here (see threads.rs); this one splits the values over
//! rayon's pool. The backward hands dy to both operands.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use super::cpu_data::f32_slice;
use super::par::fill_rows;
use crate::StageError;

pub fn residual(a: &Tensor, b: &Tensor) -> Result<Tensor, StageError> {
    Ok(a.contiguous()?.apply_op2(&b.contiguous()?, Residual)?)
}

struct Residual;

impl CustomOp2 for Residual {
    fn name(&self) -> &'static str {
        "residual-add"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = f32_slice(s1, l1, "residual", "input")?;
        let b = f32_slice(s2, l2, "residual", "shortcut")?;
        if l1.dims() != l2.dims() {
            candle_core::bail!("residual: {:?} + {:?}", l1.dims(), l2.dims());
        }
        let sum = fill_rows(a.len(), 1, |first, dst| {
            for ((d, &x), &y) in dst.iter_mut().zip(&a[first..]).zip(&b[first..]) {
                *d = x + y;
            }
        });
        Ok((CpuStorage::F32(sum), l1.shape().clone()))
    }

    fn bwd(&self, _a: &Tensor, _b: &Tensor, _sum: &Tensor, dy: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(dy.clone()), Some(dy.clone())))
    }
}
