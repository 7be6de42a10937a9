//! A dense layer with torch's weight layout: y = x @ W^T + b, W [out, in].

use candle_core::Tensor;

use crate::StageError;

#[derive(Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    /// `x` is [.., in]; the leading dims are flattened so the product is one 2-D
    /// matmul against the transposed weight (gemm reads the transpose by stride, no copy).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, StageError> {
        let dims = x.dims();
        let (inner, lead) = dims.split_last().ok_or_else(|| StageError::Failed("linear on a scalar".into()))?;
        let rows: usize = lead.iter().product();
        let out = x.reshape((rows, *inner))?.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?;
        let mut shape = lead.to_vec();
        shape.push(out.dim(1)?);
        Ok(out.reshape(shape)?)
    }
}
