//! 16 x 16 transposes of 32-bit values: the AMX packing turns vectors read
//! along the contiguous index into tile rows with it, and the row sums
//! (`columns`) turn 16 rows into 16 columns so that each lane adds up one row.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::lanes::{build, Lanes, LANES};

/// A 16 x 16 matrix of 32-bit values (one row per vector) transposed in registers:
/// 32-bit and 64-bit interleaves within 128-bit lanes, then a 4 x 4 transpose of
/// the lanes. (The scalar loop it replaces compiled to scatters: a third of packing.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn transpose16(v: &[__m512i; 16]) -> [__m512i; 16] {
    let zero = _mm512_setzero_si512();
    let mut t = [zero; 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
    }
    // u[4g + p], lane l: column 4l + p of rows 4g..4g + 4.
    let mut u = [zero; 16];
    for g in 0..4 {
        u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    let mut out = [zero; 16];
    for p in 0..4 {
        let (x0, x1) = (_mm512_shuffle_i32x4::<0x44>(u[p], u[4 + p]), _mm512_shuffle_i32x4::<0xee>(u[p], u[4 + p]));
        let (x2, x3) = (_mm512_shuffle_i32x4::<0x44>(u[8 + p], u[12 + p]), _mm512_shuffle_i32x4::<0xee>(u[8 + p], u[12 + p]));
        out[p] = _mm512_shuffle_i32x4::<0x88>(x0, x2);
        out[4 + p] = _mm512_shuffle_i32x4::<0xdd>(x0, x2);
        out[8 + p] = _mm512_shuffle_i32x4::<0x88>(x1, x3);
        out[12 + p] = _mm512_shuffle_i32x4::<0xdd>(x1, x3);
    }
    out
}

/// `blocks` as the rows of a 16 x 16 matrix, transposed: block c holds value c of each.
#[inline(always)]
pub fn transpose(blocks: &[Lanes; LANES]) -> [Lanes; LANES] {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { transpose_avx512(blocks) };
    }
    std::array::from_fn(|c| build(|r| blocks[r][c]))
}

/// `transpose` on AVX-512 registers. A function of its own so that the
/// intrinsics are inlined into it even where its caller is compiled for
/// baseline x86-64; inside `wide` it is inlined whole.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_avx512(blocks: &[Lanes; LANES]) -> [Lanes; LANES] {
    let mut v = [_mm512_setzero_si512(); LANES];
    for (v, b) in v.iter_mut().zip(blocks) {
        *v = _mm512_loadu_si512(b.as_ptr() as *const _);
    }
    let mut out = [[0.0; LANES]; LANES];
    for (o, t) in out.iter_mut().zip(&transpose16(&v)) {
        _mm512_storeu_si512(o.as_mut_ptr() as *mut _, *t);
    }
    out
}

/// Calls `f(j, columns)` for j = 0, 1, .., dim - 1 in order, where `columns[s]`
/// holds value j of each of the first `rows` (at most 16) rows of `dim` values
/// of `srcs[s]`, one row per lane, zeros in the lanes past `rows`. A sum along
/// rows kept in a block then adds each row in index order, as a loop over one
/// row does (same bits), for 16 rows at once.
#[inline(always)]
pub fn columns<const N: usize>(srcs: [&[f32]; N], rows: usize, dim: usize, mut f: impl FnMut(usize, [Lanes; N])) {
    assert!(rows <= LANES && srcs.iter().all(|s| s.len() >= rows * dim), "columns: more than 16 rows, or a source shorter than its rows");
    // Plain loops, not `array::map`: LLVM kept map's closure out of line,
    // compiled for baseline x86-64 (2% of bf16 inference).
    // Lines past `rows` are never written: they stay zero.
    let mut lines = [[0.0; LANES]; LANES];
    let mut blocks = [[[0.0; LANES]; LANES]; N];
    let mut cols = [[0.0; LANES]; N];
    for j0 in (0..dim).step_by(LANES) {
        // The last block may be partial (softmax rows are often shorter than 16).
        let width = (dim - j0).min(LANES);
        for (block, s) in blocks.iter_mut().zip(&srcs) {
            for (r, line) in lines.iter_mut().enumerate().take(rows) {
                line[..width].copy_from_slice(&s[r * dim + j0..r * dim + j0 + width]);
            }
            *block = transpose(&lines);
        }
        for c in 0..width {
            for (col, block) in cols.iter_mut().zip(&blocks) {
                *col = block[c];
            }
            f(j0 + c, cols);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_hand_out_each_rows_values_in_order() {
        // 5 rows of 37 values (two whole 16-column blocks and a partial one), and of 7.
        for dim in [37, 7] {
            let rows = 5;
            let x: Vec<f32> = (0..rows * dim).map(|i| i as f32).collect();
            let mut seen = vec![];
            columns([&x, &x], rows, dim, |j, [a, b]| {
                assert_eq!(a, b);
                seen.push(j);
                for r in 0..LANES {
                    assert_eq!(a[r], if r < rows { (r * dim + j) as f32 } else { 0.0 }, "row {r}, column {j}");
                }
            });
            assert_eq!(seen, (0..dim).collect::<Vec<_>>());
        }
    }
}
