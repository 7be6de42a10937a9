//! The residual sum a + b of two same-shape tensors as a custom op: candle's add
//! runs on one thread (its own pool is off, src/runtime.rs); this one splits the values over
//! rayon's pool. The backward hands dy to both operands.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use super::cpu_data::cpu_slice;
use super::lanes::each2;
use super::par::map2;

pub fn residual(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    a.contiguous()?.apply_op2(&b.contiguous()?, Residual)
}

struct Residual;

impl CustomOp2 for Residual {
    fn name(&self) -> &'static str {
        "residual-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = cpu_slice::<f32>(s1, l1, "residual", "input")?;
        let b = cpu_slice::<f32>(s2, l2, "residual", "shortcut")?;
        if l1.dims() != l2.dims() {
            candle_core::bail!("residual: {:?} + {:?}", l1.dims(), l2.dims());
        }
        Ok((
            CpuStorage::F32(map2(
                a,
                b,
                #[inline(always)]
                |x, y| each2(x, y, |x, y| x + y),
            )),
            l1.shape().clone(),
        ))
    }

    fn bwd(
        &self,
        _a: &Tensor,
        _b: &Tensor,
        _sum: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(dy.clone()), Some(dy.clone())))
    }
}
