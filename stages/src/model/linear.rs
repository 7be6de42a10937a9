//! A dense layer with torch's weight layout: y = x @ W^T + b, W [out, in], as
//! one custom op. Composed from candle ops it was a transpose node on W, a
//! matmul and a broadcast add, and backward then accumulated W's gradient
//! through the transpose (a strided full-size add per layer per step) and b's
//! through a broadcast reduction. Here the forward is the same gemm call candle
//! makes plus the bias rows (identical outputs), and the backward produces
//! dx = dy W, dW = dy^T x and db = column sums of dy (dW directly in W's layout).

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use gemm::{gemm, Parallelism};

use super::cpu_data::f32_slice;
use crate::StageError;

#[derive(Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    /// `x` is [.., in]; the leading dims are flattened into the rows of one 2-D product.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, StageError> {
        let dims = x.dims();
        let (inner, lead) = dims.split_last().ok_or_else(|| StageError::Failed("linear on a scalar".into()))?;
        let rows: usize = lead.iter().product();
        let out = x.contiguous()?.reshape((rows, *inner))?.apply_op3(&self.weight, &self.bias, LinearOp)?;
        let mut shape = lead.to_vec();
        shape.push(out.dim(1)?);
        Ok(out.reshape(shape)?)
    }
}

/// Operands (x [rows, in], W [out, in], b [out]).
struct LinearOp;

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "linear-with-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "linear", "input")?;
        let w = f32_slice(s2, l2, "linear", "weight")?;
        let b = f32_slice(s3, l3, "linear", "bias")?;
        let (&[m, k], &[n, k2], &[n2]) = (l1.dims(), l2.dims(), l3.dims()) else {
            candle_core::bail!("linear: input {:?}, weight {:?}, bias {:?}", l1.dims(), l2.dims(), l3.dims())
        };
        if k != k2 || n != n2 {
            candle_core::bail!("linear: input {:?}, weight {:?}, bias {:?}", l1.dims(), l2.dims(), l3.dims());
        }
        let mut y = vec![0f32; m * n];
        let threads = candle_core::utils::get_num_threads();
        let parallelism = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
        // SAFETY: y is m x n row-major; x is m x k row-major; W^T (k x n) is read
        // from W (n x k row-major) by strides: rows 1 apart, columns k apart.
        unsafe {
            gemm(
                m,
                n,
                k,
                y.as_mut_ptr(),
                1,
                n as isize,
                false,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                k as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            )
        }
        for row in y.chunks_exact_mut(n) {
            for (v, bias) in row.iter_mut().zip(b) {
                *v += bias;
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dx = dy.matmul(weight)?;
        let dweight = dy.t()?.matmul(x)?;
        // Column sums as a 1-row product: candle's sum over dim 0 walks dy by strides.
        let rows = dy.dim(0)?;
        let dbias = Tensor::ones((1, rows), dy.dtype(), dy.device())?.matmul(&dy)?.squeeze(0)?;
        Ok((Some(dx), Some(dweight), Some(dbias)))
    }
}
