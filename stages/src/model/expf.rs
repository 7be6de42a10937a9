//! e^x for f32, computed as glibc's `expf` computes it (sysdeps/ieee754/flt-32/e_expf.c,
//! the FMA build this CPU's libm runs), but branch-free so that a loop calling it
//! vectorises (see `wide.rs`). libm's scalar `expf` was 13% of bf16 inference
//! (GELU's erf, softmax). Giving the same bits as libm keeps every f32 result,
//! cache key and lock file of the earlier builds valid; a test holds it to that.

/// 2^(i/32) as f64 bits, minus i << 47, so that adding k << 47 gives 2^(k/32) for
/// any integer k with k mod 32 = i (glibc's `__exp2f_data.tab`).
const TAB: [u64; 32] = [
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
];
/// 32 / ln 2.
const INV_LN2_N: f64 = f64::from_bits(0x4047_1547_652b_82fe);
/// 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits.
const SHIFT: f64 = f64::from_bits(0x4338_0000_0000_0000);
/// 2^(r/32) - 1 ~= C0 r^3 + C1 r^2 + C2 r on |r| <= 1/2.
const C: [f64; 3] = [
    f64::from_bits(0x3ebc_6af8_4b91_2394),
    f64::from_bits(0x3f2e_bfce_50fa_c4f3),
    f64::from_bits(0x3f96_2e42_ff0c_52d6),
];
/// Above this e^x overflows to infinity; below `UNDERFLOW` it is 0, and up to
/// `MAY_UNDERFLOW` glibc returns the smallest subnormal.
const OVERFLOW: f32 = f32::from_bits(0x42b1_7217);
const UNDERFLOW: f32 = f32::from_bits(0xc2cf_f1b4);
const MAY_UNDERFLOW: f32 = f32::from_bits(0xc2ce_8ecf);

/// e^x, bit-identical to glibc's `expf` (FMA variant) for every f32 including
/// infinities and NaN.
#[inline(always)]
pub fn expf(x: f32) -> f32 {
    let xd = f64::from(x);
    // x 32 / ln 2 = k + r, k an integer, |r| <= 1/2.
    let kd = INV_LN2_N.mul_add(xd, SHIFT);
    let ki = kd.to_bits();
    let kd = kd - SHIFT;
    let r = INV_LN2_N.mul_add(xd, -kd);
    let s = f64::from_bits(TAB[(ki & 31) as usize].wrapping_add(ki << 47));
    let z = C[0].mul_add(r, C[1]);
    let y = C[2].mul_add(r, 1.0);
    let y = (z.mul_add(r * r, y) * s) as f32;
    // glibc's special cases, as selects so the loop stays branch-free.
    let y = if x < MAY_UNDERFLOW { f32::from_bits(1) } else { y };
    let y = if x < UNDERFLOW { 0.0 } else { y };
    let y = if x > OVERFLOW { f32::INFINITY } else { y };
    if x.is_nan() { x + x } else { y }
}

#[cfg(test)]
mod tests {
    use super::super::wide::wide;
    use super::*;

    fn check(x: f32, y: f32) {
        assert_eq!(y.to_bits(), x.exp().to_bits(), "expf({x:e}) (bits {:#010x})", x.to_bits());
    }

    /// Every 61st f32 bit pattern (70 million values across all exponents, both
    /// signs, NaNs and subnormals), the edges of the special cases, and a dense
    /// run around 0: expf must give libm's bits. (All 2^32 patterns: the ignored
    /// test below, `cargo test --release -p pipe-stages expf -- --ignored`.)
    #[test]
    fn gives_libm_bits() {
        let edges = [OVERFLOW, UNDERFLOW, MAY_UNDERFLOW, 88.0, -88.0, -87.5, 0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        let near = edges.iter().flat_map(|e| (0..64).flat_map(move |d| [e.to_bits().wrapping_add(d), e.to_bits().wrapping_sub(d)]));
        let dense = (0..1u32 << 20).map(|i| (i as f32 / (1 << 14) as f32 - 32.0).to_bits());
        for bits in (0..=u32::MAX).step_by(61).chain(near).chain(dense) {
            let x = f32::from_bits(bits);
            check(x, expf(x));
        }
    }

    /// The vectorised loop (16 lanes, gathers from `TAB`) gives the same bits.
    #[test]
    fn gives_libm_bits_in_wide_loops() {
        let xs: Vec<f32> = (0..1u32 << 22).map(|i| f32::from_bits(i.wrapping_mul(0x9e37_79b9))).collect();
        let ys: Vec<f32> = wide(#[inline(always)] || xs.iter().map(|&x| expf(x)).collect());
        for (&x, y) in xs.iter().zip(ys) {
            check(x, y);
        }
    }

    #[test]
    #[ignore = "all 2^32 inputs: about a minute and a half"]
    fn gives_libm_bits_everywhere() {
        for bits in 0..=u32::MAX {
            let x = f32::from_bits(bits);
            check(x, expf(x));
        }
    }
}
