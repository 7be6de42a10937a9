//! A dense layer with torch's weight layout, W [out, in], over any leading dims.

use candle_core::Tensor;

use crate::kernels::linear::linear;
use crate::kernels::Precision;

#[derive(Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
    pub precision: Precision,
}

impl Linear {
    /// `x` is [.., in]; the leading dims are flattened into the rows of one 2-D product.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let Some((inner, lead)) = dims.split_last() else { candle_core::bail!("linear on a scalar") };
        let rows: usize = lead.iter().product();
        let out = linear(&x.contiguous()?.reshape((rows, *inner))?, &self.weight, &self.bias, self.precision)?;
        let mut shape = lead.to_vec();
        shape.push(out.dim(1)?);
        out.reshape(shape)
    }
}
