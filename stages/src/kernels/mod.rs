//! CPU kernels: the custom ops (with their backward passes) and matrix products
//! the model is written with, and the loops, SIMD helpers and precision choice
//! behind them. Rules in README.md: no model knowledge here, candle's error
//! type, and the same bits for any thread split and either SIMD path.

#[cfg(target_arch = "x86_64")]
mod amx;
mod bf16;
#[cfg(target_arch = "x86_64")]
mod bf16_tiles;
pub(crate) mod cpu_data;
#[cfg(target_arch = "x86_64")]
mod dpbf16;
pub(crate) mod dropout;
mod expf;
pub(crate) mod gelu;
mod gemm;
pub(crate) mod head_split;
pub(crate) mod int8;
mod lanes;
pub(crate) mod layer_norm;
#[cfg(test)]
mod levels;
pub(crate) mod linear;
pub(crate) mod lookup;
pub(crate) mod par;
mod precision;
pub(crate) mod residual;
pub mod simd;
pub(crate) mod softmax;
mod transpose;
mod wide;

pub use precision::{Choice as PrecisionChoice, Precision};

/// `x` (m x k) times the transpose of `w` (n x k), both contiguous row-major, at
/// `precision`: the product a dense layer runs, on plain matrices, for `pipe bench peak`.
pub fn dense_product(precision: Precision, m: usize, n: usize, k: usize, x: &[f32], w: &[f32]) -> Vec<f32> {
    precision.product(m, n, k, gemm::Operand::rows(x, k), gemm::Operand::transposed(w, k), None)
}
