//! bfloat16 values (the top 16 bits of an f32) and the portable bf16 product:
//! the same rounding of the operands as the AMX and AVX512-BF16 kernels, then
//! f32 products and sums (exact products: two bf16 mantissas fit in an f32's).
//! It serves CPUs with neither and is what both kernels are tested against.

use super::gemm::{product, Operand};

/// `x` rounded to the nearest bf16, ties to even, as its 16 bits; NaN stays NaN.
#[inline(always)]
pub fn round(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
    // A NaN's rounding could carry into the exponent and give infinity: keep it quiet NaN instead.
    if x.is_nan() {
        (bits >> 16) as u16 | 0x40
    } else {
        rounded
    }
}

/// The f32 a bf16 stands for.
#[inline(always)]
pub fn widen(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// `lhs` (m x k) times `rhs` (k x n) with both operands rounded to bf16 first.
pub fn product_portable(m: usize, n: usize, k: usize, lhs: Operand, rhs: Operand) -> Vec<f32> {
    let rounded = |op: Operand, rows: usize, cols: usize| -> Vec<f32> {
        (0..rows).flat_map(|i| (0..cols).map(move |j| widen(round(op.data[i * op.rs + j * op.cs])))).collect()
    };
    let (a, b) = (rounded(lhs, m, k), rounded(rhs, k, n));
    product(m, n, k, Operand::rows(&a, k), Operand::rows(&b, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_nearest_even() {
        // 1 + 2^-8 lies halfway between bf16 1.0 and 1 + 2^-7: ties go to the even 1.0.
        assert_eq!(round(1.0 + 2f32.powi(-8)), 0x3f80);
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up to the even one.
        assert_eq!(round(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        assert_eq!(round(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), 0x3f81);
        assert_eq!(round(-2.0), 0xc000);
        assert_eq!(round(0.1), 0x3dcd, "0.1 rounds to 0.10009765625");
        assert_eq!(round(f32::MAX), 0x7f80, "overflows to infinity");
        assert!(widen(round(f32::NAN)).is_nan());
    }
}
