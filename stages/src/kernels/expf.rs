//! e^x for f32, with the bits of glibc's `expf` (sysdeps/ieee754/flt-32/e_expf.c, the FMA
//! build this CPU's libm runs), and `expf_lanes` doing the same on 16 values at once in
//! AVX-512 or AVX2 (see `lanes.rs`): libm's `expf` is scalar, and GELU's erf and softmax call
//! it for every value. Giving the same bits as libm keeps every f32 result, cache key and
//! lock file of the earlier builds valid; tests hold every path to that.

use super::lanes::Lanes;

/// 2^(i/32) as f64 bits, minus i << 47, so that adding k << 47 gives 2^(k/32) for
/// any integer k with k mod 32 = i (glibc's `__exp2f_data.tab`).
const TAB: [u64; 32] = [
    0x3ff0000000000000,
    0x3fefd9b0d3158574,
    0x3fefb5586cf9890f,
    0x3fef9301d0125b51,
    0x3fef72b83c7d517b,
    0x3fef54873168b9aa,
    0x3fef387a6e756238,
    0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715,
    0x3feef1a7373aa9cb,
    0x3feedea64c123422,
    0x3feece086061892d,
    0x3feebfdad5362a27,
    0x3feeb42b569d4f82,
    0x3feeab07dd485429,
    0x3feea47eb03a5585,
    0x3feea09e667f3bcd,
    0x3fee9f75e8ec5f74,
    0x3feea11473eb0187,
    0x3feea589994cce13,
    0x3feeace5422aa0db,
    0x3feeb737b0cdc5e5,
    0x3feec49182a3f090,
    0x3feed503b23e255d,
    0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47,
    0x3fef199bdd85529c,
    0x3fef3720dcef9069,
    0x3fef5818dcfba487,
    0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da,
    0x3fefd0765b6e4540,
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

/// `INV_LN2_N` in two parts: the high one has 29 significant bits, so its product with
/// an f32 (24 bits) is exact in f64.
const INV_LN2_N_HIGH: f64 = f64::from_bits(0x4047_1547_6500_0000);
const INV_LN2_N_LOW: f64 = INV_LN2_N - INV_LN2_N_HIGH;

/// e^x, bit-identical to glibc's `expf` (FMA variant) for every f32 including
/// infinities and NaN, without fused multiply-adds: x86-64 without FMA (the baseline
/// level) has no such instruction, and `mul_add` there is a libm call, five per value.
/// The product with 32 / ln 2 is kept to about 2^-70 by splitting the constant; the
/// other fused steps add a term too small for their rounding to reach the f32 result.
/// That this gives the fused steps' bits for all 2^32 inputs is checked, not proved:
/// `gives_libm_bits_everywhere` runs them all.
#[inline(always)]
pub fn expf(x: f32) -> f32 {
    let xd = f64::from(x);
    let high = INV_LN2_N_HIGH * xd;
    let low = INV_LN2_N_LOW * xd;
    // x 32 / ln 2 = k + r, k an integer, |r| <= 1/2.
    let kd = (high + low) + SHIFT;
    let ki = kd.to_bits();
    let kd = kd - SHIFT;
    // `high - kd` is exact: both are multiples of high's last bit, and it is below 1.
    let r = (high - kd) + low;
    let s = f64::from_bits(TAB[(ki & 31) as usize].wrapping_add(ki << 47));
    let z = C[0] * r + C[1];
    let y = C[2] * r + 1.0;
    let y = ((z * (r * r) + y) * s) as f32;
    // glibc's special cases, as selects so the loop stays branch-free.
    let y = if x < MAY_UNDERFLOW { f32::from_bits(1) } else { y };
    let y = if x < UNDERFLOW { 0.0 } else { y };
    let y = if x > OVERFLOW { f32::INFINITY } else { y };
    if x.is_nan() {
        x + x
    } else {
        y
    }
}

/// `expf` of each value of a block: one AVX-512 computation, or two AVX2 ones,
/// at the level the process runs at.
#[inline(always)]
pub fn expf_lanes(x: Lanes) -> Lanes {
    #[cfg(target_arch = "x86_64")]
    match super::simd::level() {
        // SAFETY: `level` reports only what the CPU has.
        super::simd::Level::Avx512 | super::simd::Level::Amx => return unsafe { avx512::expf_lanes(x) },
        super::simd::Level::Avx2 => return unsafe { avx2::expf_lanes(x) },
        super::simd::Level::Baseline => {}
    }
    x.map(expf)
}

/// glibc's steps on 16 lanes, each the same IEEE operation as glibc's FMA build (fused
/// multiply-adds, rounded to f32 once at the end), so every lane has libm's bits.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::super::lanes::LANES;
    use super::*;

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn expf_lanes(x: Lanes) -> Lanes {
        let xs = _mm512_loadu_ps(x.as_ptr());
        let low = exp_f64(_mm512_cvtps_pd(_mm512_castps512_ps256(xs)));
        let high = exp_f64(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(xs)))));
        let y = _mm512_castpd_ps(_mm512_insertf64x4::<1>(
            _mm512_castps_pd(_mm512_castps256_ps512(low)),
            _mm256_castps_pd(high),
        ));
        let y = _mm512_mask_mov_ps(
            y,
            _mm512_cmp_ps_mask::<_CMP_LT_OQ>(xs, _mm512_set1_ps(MAY_UNDERFLOW)),
            _mm512_set1_ps(f32::from_bits(1)),
        );
        let y =
            _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask::<_CMP_LT_OQ>(xs, _mm512_set1_ps(UNDERFLOW)), _mm512_setzero_ps());
        let y = _mm512_mask_mov_ps(
            y,
            _mm512_cmp_ps_mask::<_CMP_GT_OQ>(xs, _mm512_set1_ps(OVERFLOW)),
            _mm512_set1_ps(f32::INFINITY),
        );
        let y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(xs, xs), _mm512_add_ps(xs, xs));
        let mut out = [0f32; LANES];
        _mm512_storeu_ps(out.as_mut_ptr(), y);
        out
    }

    /// The table-and-cubic part of `expf` for 8 values widened to f64, rounded to f32.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn exp_f64(xd: __m512d) -> __m256 {
        let inv = _mm512_set1_pd(INV_LN2_N);
        let shift = _mm512_set1_pd(SHIFT);
        let kd = _mm512_fmadd_pd(inv, xd, shift);
        let ki = _mm512_castpd_si512(kd);
        let kd = _mm512_sub_pd(kd, shift);
        let r = _mm512_fmsub_pd(inv, xd, kd);
        // TAB[ki & 31]: two-register permutes take the low four index bits, bit 4 picks the half.
        let tab = |i: usize| _mm512_loadu_si512(TAB[i..].as_ptr() as *const _);
        let first = _mm512_permutex2var_epi64(tab(0), ki, tab(8));
        let second = _mm512_permutex2var_epi64(tab(16), ki, tab(24));
        let entry = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(ki, _mm512_set1_epi64(16)), first, second);
        let s = _mm512_castsi512_pd(_mm512_add_epi64(entry, _mm512_slli_epi64::<47>(ki)));
        let z = _mm512_fmadd_pd(_mm512_set1_pd(C[0]), r, _mm512_set1_pd(C[1]));
        let y = _mm512_fmadd_pd(_mm512_set1_pd(C[2]), r, _mm512_set1_pd(1.0));
        let y = _mm512_mul_pd(_mm512_fmadd_pd(z, _mm512_mul_pd(r, r), y), s);
        _mm512_cvtpd_ps(y)
    }
}

/// `expf`'s steps as in `avx512`, on two halves of 8 lanes, 4 at a time in f64;
/// the table is read with gathers (AVX2 has no two-register permute).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::super::lanes::LANES;
    use super::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn expf_lanes(x: Lanes) -> Lanes {
        let mut out = [0f32; LANES];
        for half in 0..2 {
            let xs = _mm256_loadu_ps(x.as_ptr().add(8 * half));
            let low = exp_f64(_mm256_cvtps_pd(_mm256_castps256_ps128(xs)));
            let high = exp_f64(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(xs)));
            let y = _mm256_set_m128(high, low);
            let y = _mm256_blendv_ps(
                y,
                _mm256_set1_ps(f32::from_bits(1)),
                _mm256_cmp_ps::<_CMP_LT_OQ>(xs, _mm256_set1_ps(MAY_UNDERFLOW)),
            );
            let y =
                _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps::<_CMP_LT_OQ>(xs, _mm256_set1_ps(UNDERFLOW)));
            let y = _mm256_blendv_ps(
                y,
                _mm256_set1_ps(f32::INFINITY),
                _mm256_cmp_ps::<_CMP_GT_OQ>(xs, _mm256_set1_ps(OVERFLOW)),
            );
            let y = _mm256_blendv_ps(y, _mm256_add_ps(xs, xs), _mm256_cmp_ps::<_CMP_UNORD_Q>(xs, xs));
            _mm256_storeu_ps(out.as_mut_ptr().add(8 * half), y);
        }
        out
    }

    /// The table-and-cubic part of `expf` for 4 values widened to f64, rounded to f32.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp_f64(xd: __m256d) -> __m128 {
        let inv = _mm256_set1_pd(INV_LN2_N);
        let shift = _mm256_set1_pd(SHIFT);
        let kd = _mm256_fmadd_pd(inv, xd, shift);
        let ki = _mm256_castpd_si256(kd);
        let kd = _mm256_sub_pd(kd, shift);
        let r = _mm256_fmsub_pd(inv, xd, kd);
        let index = _mm256_and_si256(ki, _mm256_set1_epi64x(31));
        let entry = _mm256_i64gather_epi64::<8>(TAB.as_ptr() as *const i64, index);
        let s = _mm256_castsi256_pd(_mm256_add_epi64(entry, _mm256_slli_epi64::<47>(ki)));
        let z = _mm256_fmadd_pd(_mm256_set1_pd(C[0]), r, _mm256_set1_pd(C[1]));
        let y = _mm256_fmadd_pd(_mm256_set1_pd(C[2]), r, _mm256_set1_pd(1.0));
        let y = _mm256_mul_pd(_mm256_fmadd_pd(z, _mm256_mul_pd(r, r), y), s);
        _mm256_cvtpd_ps(y)
    }
}

#[cfg(test)]
mod tests {
    use super::super::lanes::{map_blocks, LANES};
    use super::*;

    fn check(x: f32, y: f32) {
        assert_eq!(y.to_bits(), x.exp().to_bits(), "expf({x:e}) (bits {:#010x})", x.to_bits());
    }

    /// Every 61st f32 bit pattern (70 million values across all exponents, both
    /// signs, NaNs and subnormals), the edges of the special cases, and a dense
    /// run around 0.
    fn patterns() -> impl Iterator<Item = f32> {
        let edges = [
            OVERFLOW,
            UNDERFLOW,
            MAY_UNDERFLOW,
            88.0,
            -88.0,
            -87.5,
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        let near = edges
            .into_iter()
            .flat_map(|e| (0..64).flat_map(move |d| [e.to_bits().wrapping_add(d), e.to_bits().wrapping_sub(d)]));
        let dense = (0..1u32 << 20).map(|i| (i as f32 / (1 << 14) as f32 - 32.0).to_bits());
        (0..=u32::MAX).step_by(61).chain(near).chain(dense).map(f32::from_bits)
    }

    /// All 2^32 inputs: what backs `expf`'s claim to the fused steps' bits.
    #[test]
    fn gives_libm_bits_everywhere() {
        for x in (0..=u32::MAX).map(f32::from_bits) {
            check(x, expf(x));
        }
    }

    /// `expf_lanes` (AVX-512 or AVX2 at those levels) gives libm's bits too, 16 at a time
    /// through `map_blocks` as the kernels call it (the patterns end in a partial block).
    #[test]
    fn lanes_give_libm_bits() {
        let xs: Vec<f32> = patterns().collect();
        assert_ne!(xs.len() % LANES, 0, "the patterns should end in a partial block");
        let mut ys = vec![0f32; xs.len()];
        map_blocks(&mut ys, [&xs], |[v]| expf_lanes(v));
        for (&x, y) in xs.iter().zip(ys) {
            check(x, y);
        }
    }

    #[test]
    #[ignore = "all 2^32 inputs through the lanes: 20 s in release"]
    fn lanes_give_libm_bits_everywhere() {
        for first in (0..=u32::MAX).step_by(LANES) {
            let lanes: Lanes = std::array::from_fn(|i| f32::from_bits(first + i as u32));
            for (&x, y) in lanes.iter().zip(expf_lanes(lanes)) {
                check(x, y);
            }
        }
    }
}
