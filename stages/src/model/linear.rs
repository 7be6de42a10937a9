//! A dense layer with torch's weight layout, W [out, in], over any leading dims.

use std::sync::Arc;

use candle_core::Tensor;

use crate::kernels::int8::{linear_int8, Int8Linear};
use crate::kernels::linear::linear;
use crate::kernels::Precision;

#[derive(Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
    pub precision: Precision,
    /// The weight quantized for inference, when the model was loaded so.
    pub int8: Option<Arc<Int8Linear>>,
}

impl Linear {
    /// `x` is [.., in]; the leading dims are flattened into the rows of one 2-D product.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let Some((inner, lead)) = dims.split_last() else { candle_core::bail!("linear on a scalar") };
        let rows: usize = lead.iter().product();
        let x = x.contiguous()?.reshape((rows, *inner))?;
        let out = match &self.int8 {
            Some(prepared) => linear_int8(&x, prepared, &self.weight)?,
            None => linear(&x, &self.weight, &self.bias, self.precision)?,
        };
        let mut shape = lead.to_vec();
        shape.push(out.dim(1)?);
        out.reshape(shape)
    }
}
