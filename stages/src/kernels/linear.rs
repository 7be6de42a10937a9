//! A dense layer's product with torch's weight layout: y = x @ W^T + b, W [out,
//! in], as one custom op. Composed from candle ops it is a transpose node on W,
//! a matmul and a broadcast add, and backward then accumulates W's gradient
//! through the transpose (a strided full-size add per layer per step) and b's
//! through a broadcast reduction. Here the forward is the same gemm call candle
//! makes plus the bias rows (identical outputs), and the backward produces
//! dx = dy W, dW = dy^T x and db = column sums of dy (dW directly in W's layout).

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::cpu_data::{cpu_slice, storage_slice};
use super::gemm::{product, Operand};
use super::precision::Precision;

/// x [rows, in] @ W^T + b for W [out, in] and b [out], as [rows, out].
pub fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor, precision: Precision) -> candle_core::Result<Tensor> {
    x.apply_op3(weight, bias, LinearOp(precision))
}

/// Operands (x [rows, in], W [out, in], b [out]); the products' precision.
struct LinearOp(Precision);

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
        let x = cpu_slice::<f32>(s1, l1, "linear", "input")?;
        let w = cpu_slice::<f32>(s2, l2, "linear", "weight")?;
        let b = cpu_slice::<f32>(s3, l3, "linear", "bias")?;
        let (&[m, k], &[n, k2], &[n2]) = (l1.dims(), l2.dims(), l3.dims()) else {
            candle_core::bail!("linear: input {:?}, weight {:?}, bias {:?}", l1.dims(), l2.dims(), l3.dims())
        };
        if k != k2 || n != n2 {
            candle_core::bail!("linear: input {:?}, weight {:?}, bias {:?}", l1.dims(), l2.dims(), l3.dims());
        }
        let y = self.0.product(m, n, k, Operand::rows(x, k), Operand::transposed(w, k), Some(b));
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
        let (m, n) = dy.dims2()?;
        let k = x.dim(1)?;
        let device = x.device().clone();
        // The products candle's matmul computed here before (dy W, dy^T x, and the
        // column sums of dy as 1 x m ones times dy): same gemm calls, same bits.
        let (dy, weight, x) = (dy.contiguous()?, weight.contiguous()?, x.contiguous()?);
        let (dy_s, dy_l) = dy.storage_and_layout();
        let (w_s, w_l) = weight.storage_and_layout();
        let (x_s, x_l) = x.storage_and_layout();
        let dy_v = storage_slice::<f32>(&dy_s, dy_l, "linear backward", "gradient")?;
        let w = storage_slice::<f32>(&w_s, w_l, "linear backward", "weight")?;
        let xv = storage_slice::<f32>(&x_s, x_l, "linear backward", "input")?;
        let dx = self.0.product(m, k, n, Operand::rows(dy_v, n), Operand::rows(w, k), None);
        let dweight = self.0.product(n, k, m, Operand::transposed(dy_v, n), Operand::rows(xv, k), None);
        let ones = vec![1f32; m];
        let dbias = product(1, n, m, Operand::rows(&ones, m), Operand::rows(dy_v, n));
        let dx = Tensor::from_vec(dx, (m, k), &device)?;
        let dweight = Tensor::from_vec(dweight, (n, k), &device)?;
        let dbias = Tensor::from_vec(dbias, n, &device)?;
        Ok((Some(dx), Some(dweight), Some(dbias)))
    }
}
