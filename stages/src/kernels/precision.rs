//! The precision of the dense layers' matrix products (`precision` in the train
//! stage, `pipe bench --precision`). f32 is the reference and parity path. bf16
//! rounds both operands to bf16 and accumulates in f32, as PyTorch's bf16
//! autocast does: on AMX tiles where the CPU has them, else the portable
//! product (same rounding, slower than f32). Weights, gradients, optimizer
//! state and every other op stay f32.

use serde::{Deserialize, Serialize};

use super::gemm::{self, Operand};
use super::par::for_rows_mut;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 products: the reference
    #[default]
    Fp32,
    /// Operands rounded to bf16, sums in f32 (on AMX tiles where the CPU has them)
    Bf16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }

    pub fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }

    /// Why this precision runs slowly on this CPU, if it does (for a warning).
    pub fn slow_here(self) -> Option<&'static str> {
        #[cfg(target_arch = "x86_64")]
        let tiles = super::amx::available();
        #[cfg(not(target_arch = "x86_64"))]
        let tiles = false;
        (self == Precision::Bf16 && !tiles).then_some(
            "precision bf16: no AMX-BF16 tiles here (the CPU lacks them, the kernel did not grant them, or \
             PIPE_SIMD caps the level below amx), so the dense layers use the portable bf16 product, which is slower than fp32",
        )
    }

    /// `lhs` (m x k) times `rhs` (k x n) as a row-major m x n vector, plus
    /// `bias` (n values) on every row where given, added to the finished sums.
    pub fn product(self, m: usize, n: usize, k: usize, lhs: Operand, rhs: Operand, bias: Option<&[f32]>) -> Vec<f32> {
        let mut y = match self {
            Precision::Fp32 => gemm::product(m, n, k, lhs, rhs),
            Precision::Bf16 if m == 0 || n == 0 || k == 0 => gemm::product(m, n, k, lhs, rhs),
            // The tiles add the bias slab by slab, while the slab is still in cache.
            #[cfg(target_arch = "x86_64")]
            Precision::Bf16 if super::amx::available() => return super::amx::product(m, n, k, lhs, rhs, bias),
            Precision::Bf16 => super::bf16::product_portable(m, n, k, lhs, rhs),
        };
        if let Some(bias) = bias {
            for_rows_mut(&mut y, n, |_, rows| add_bias(rows, bias));
        }
        y
    }
}

/// Adds `bias` to each row of `rows` (whole rows of `bias.len()` values).
#[inline(always)]
pub fn add_bias(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}
