//! The precision of the dense layers' matrix products (`precision` in the train
//! stage, `pipe bench --precision`, `pipe predict --precision`). f32 is the
//! reference and parity path. bf16 rounds both operands to bf16 and accumulates
//! in f32, as PyTorch's bf16 autocast does: on AMX tiles or with AVX512-BF16's
//! dot products where the CPU has them, else the portable product (same
//! rounding, slower than f32). Weights,
//! gradients, optimizer state and every other op stay f32.
//!
//! What a user asks for is a [`Choice`]: a precision, or `auto`, which resolves
//! once per process to the fastest acceptable precision at the SIMD level.

use serde::{Deserialize, Serialize};

use super::gemm::{self, Operand};
use super::par::for_rows_mut;
use super::simd::{self, Level};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 products: the reference
    #[default]
    Fp32,
    /// Operands rounded to bf16, sums in f32 (on AMX tiles or AVX512-BF16 where the CPU has them)
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

    /// The fastest precision whose results are acceptable at `level`: bf16
    /// where its products run on AMX tiles, or on AVX512-BF16 (at level `avx512`
    /// on a CPU with it); elsewhere the portable bf16 product is slower than f32.
    fn fastest_at(level: Level) -> Precision {
        if level == Level::Amx || (level == Level::Avx512 && simd::has_bf16_dot()) {
            Precision::Bf16
        } else {
            Precision::Fp32
        }
    }

    /// Why this precision runs slowly on this CPU, if it does (for a warning).
    pub fn slow_here(self) -> Option<&'static str> {
        // Slow exactly where auto would not pick it, so auto never warns.
        (self == Precision::Bf16 && Precision::fastest_at(simd::level()) != self).then_some(
            "precision bf16: neither AMX-BF16 tiles nor AVX512-BF16 here (the CPU lacks them, the kernel did not grant \
             the tiles, or PIPE_SIMD caps the level below avx512), so the dense layers use the portable bf16 product, \
             which is slower than fp32",
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
            #[cfg(target_arch = "x86_64")]
            Precision::Bf16 if super::dpbf16::available() => return super::dpbf16::product(m, n, k, lhs, rhs, bias),
            Precision::Bf16 => super::bf16::product_portable(m, n, k, lhs, rhs),
        };
        if let Some(bias) = bias {
            for_rows_mut(&mut y, n, |_, rows| add_bias(rows, bias));
        }
        y
    }
}

/// A precision as asked for: `auto` (the default) or one pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    /// The fastest acceptable precision of this machine: bf16 with AMX tiles or AVX512-BF16, else fp32
    #[default]
    Auto,
    /// f32 products everywhere: the same results on every machine
    Fp32,
    /// bf16 operands, f32 sums (slow without AMX tiles or AVX512-BF16)
    Bf16,
}

impl Choice {
    /// The precision this choice means in this process (`simd::level()`).
    pub fn resolve(self) -> Precision {
        self.resolve_at(simd::level())
    }

    pub fn resolve_at(self, level: Level) -> Precision {
        match self {
            Choice::Auto => Precision::fastest_at(level),
            Choice::Fp32 => Precision::Fp32,
            Choice::Bf16 => Precision::Bf16,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_bf16_where_a_bf16_product_runs_fast_and_a_pinned_choice_holds_everywhere() {
        let dot = simd::has_bf16_dot();
        for level in Level::ALL {
            let fast = level == Level::Amx || (level == Level::Avx512 && dot);
            let auto = if fast { Precision::Bf16 } else { Precision::Fp32 };
            assert_eq!(Choice::Auto.resolve_at(level), auto, "{level}");
            assert_eq!(Choice::Fp32.resolve_at(level), Precision::Fp32, "{level}");
            assert_eq!(Choice::Bf16.resolve_at(level), Precision::Bf16, "{level}");
        }
        assert_eq!(Choice::default(), Choice::Auto);
        assert_eq!(Choice::Auto.resolve(), Choice::Auto.resolve_at(simd::level()));
    }

    #[test]
    fn only_a_pinned_bf16_without_a_fast_bf16_product_warns() {
        // At this process's level (PIPE_SIMD caps it).
        assert_eq!(Choice::Auto.resolve().slow_here(), None);
        assert_eq!(Precision::Fp32.slow_here(), None);
        let fast = simd::level() == Level::Amx || simd::bf16_dot();
        assert_eq!(Precision::Bf16.slow_here().is_some(), !fast);
    }
}
