//! One f32 matrix product into a fresh buffer: the gemm call candle's CPU matmul
//! makes (same strides, same thread split, so the same bits), without zero-filling
//! a destination that gemm overwrites anyway; and the cap that keeps gemm's own
//! choice of kernels at the level the process runs at.

use gemm::{gemm, Parallelism};

/// Caps gemm's kernels at `level`; `simd::level()` calls it once, as it picks the
/// level. gemm asks the CPU itself and would run AVX-512 products under
/// `PIPE_SIMD=avx2`, and AVX2 ones at baseline; it picks its kernels at the first
/// product of each element type, so the level is picked before any product (the
/// binary does it at start, `product` below asks for it too).
pub(super) fn cap(level: super::simd::Level) {
    #[cfg(target_arch = "x86_64")]
    {
        use gemm_common::X86Cap;

        use super::simd::Level;
        gemm_common::set_x86_cap(match level {
            Level::Baseline => X86Cap::Scalar,
            Level::Avx2 => X86Cap::V3,
            Level::Avx512 | Level::Amx => X86Cap::V4,
        });
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = level;
}

/// A row-major view of a matrix operand: element (i, j) is at `i * rs + j * cs`.
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Operand<'a> {
    /// A contiguous row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Operand<'a> {
        Operand { data, rs: cols, cs: 1 }
    }

    /// The transpose of a contiguous row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Operand<'a> {
        Operand { data, rs: 1, cs: cols }
    }

    /// Whether every element of an `r` x `c` view lies inside `data`.
    fn covers(&self, r: usize, c: usize) -> bool {
        r == 0 || c == 0 || (r - 1) * self.rs + (c - 1) * self.cs < self.data.len()
    }
}

/// `lhs` (m x k) times `rhs` (k x n) as a row-major m x n vector.
pub fn product(m: usize, n: usize, k: usize, lhs: Operand, rhs: Operand) -> Vec<f32> {
    assert!(lhs.covers(m, k) && rhs.covers(k, n), "matrix product operands smaller than {m}x{k} and {k}x{n}");
    if m == 0 || n == 0 || k == 0 {
        return vec![0.0; m * n];
    }
    super::simd::level();
    let mut dst = Vec::with_capacity(m * n);
    let threads = candle_core::utils::get_num_threads();
    let parallelism = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the asserts above keep every read inside lhs and rhs; dst has room
    // for m x n values, and gemm with read_dst = false writes each of them
    // without reading, so the length is set only after the call.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
        dst.set_len(m * n);
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product at the level the test runs at (gemm's AVX-512, FMA or SSE2
    /// kernels, by `PIPE_SIMD`) against sums in f64: within 1e-5 of the largest
    /// term sum, for shapes with partial register blocks on every side and
    /// operands read along rows and along columns.
    #[test]
    fn products_match_f64_sums_at_this_level() {
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (37, 29, 70), (130, 67, 385)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 1009) as f32 / 504.5) - 1.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729 % 997) as f32 / 498.5) - 1.0).collect();
            for (lhs, rhs) in
                [(Operand::rows(&a, k), Operand::rows(&b, n)), (Operand::transposed(&a, m), Operand::transposed(&b, k))]
            {
                let got = product(m, n, k, lhs, rhs);
                for i in 0..m {
                    for j in 0..n {
                        let terms = (0..k).map(|p| {
                            f64::from(lhs.data[i * lhs.rs + p * lhs.cs]) * f64::from(rhs.data[p * rhs.rs + j * rhs.cs])
                        });
                        let (sum, size) = terms.fold((0.0, 0.0), |(s, a), t: f64| (s + t, a + t.abs()));
                        let err = (f64::from(got[i * n + j]) - sum).abs();
                        assert!(
                            err <= 1e-5 * size.max(1e-30),
                            "{m}x{n}x{k} at ({i}, {j}): {} vs {sum}",
                            got[i * n + j]
                        );
                    }
                }
            }
        }
    }
}
