//! 16 x 16 transposes of 32-bit values: the AMX packing turns vectors read
//! along the contiguous index into tile rows with it, and the row sums
//! (`columns`) turn 16 rows into 16 columns so that each lane adds up one row.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::lanes::{build, Lanes, LANES};

/// A 16 x 16 matrix of 32-bit values (one row per vector) transposed in registers:
/// 32-bit and 64-bit interleaves within 128-bit lanes, then a 4 x 4 transpose of
/// the lanes. (A scalar loop compiles to scatters.)
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
        let (x2, x3) =
            (_mm512_shuffle_i32x4::<0x44>(u[8 + p], u[12 + p]), _mm512_shuffle_i32x4::<0xee>(u[8 + p], u[12 + p]));
        out[p] = _mm512_shuffle_i32x4::<0x88>(x0, x2);
        out[4 + p] = _mm512_shuffle_i32x4::<0xdd>(x0, x2);
        out[8 + p] = _mm512_shuffle_i32x4::<0x88>(x1, x3);
        out[12 + p] = _mm512_shuffle_i32x4::<0xdd>(x1, x3);
    }
    out
}

/// Values [j0, j0 + width) (width at most 16) of the first `rows` (at most 16)
/// rows of `dim` values of `src`, transposed into `block`: block[c] holds value
/// j0 + c of each row, one row per lane, zeros past `rows`. Written in place
/// rather than returned: staging copies through 1 KiB arrays and per-row
/// `copy_from_slice` of a variable width become libc memcpy calls.
#[inline(always)]
fn transpose_rows(src: &[f32], rows: usize, dim: usize, j0: usize, width: usize, block: &mut [Lanes; LANES]) {
    assert!(
        rows <= LANES && width <= LANES && (rows == 0 || (rows - 1) * dim + j0 + width <= src.len()),
        "transpose_rows: outside the source"
    );
    #[cfg(target_arch = "x86_64")]
    if super::simd::level() >= super::simd::Level::Avx512 {
        // SAFETY: the CPU has AVX-512F; the reads stay inside `src` (asserted).
        return unsafe { transpose_rows_avx512(src, rows, dim, j0, width, block) };
    }
    for (c, out) in block.iter_mut().enumerate() {
        *out = build(|r| if r < rows && c < width { src[r * dim + j0 + c] } else { 0.0 });
    }
}

/// `transpose_rows` on AVX-512 registers: one masked load per row. A function
/// of its own so that the intrinsics are inlined into it even where its caller
/// is compiled for baseline x86-64; inside `wide` it is inlined whole.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_rows_avx512(
    src: &[f32],
    rows: usize,
    dim: usize,
    j0: usize,
    width: usize,
    block: &mut [Lanes; LANES],
) {
    let mask = ((1u32 << width) - 1) as u16;
    let mut v = [_mm512_setzero_si512(); LANES];
    for (r, v) in v.iter_mut().enumerate().take(rows) {
        *v = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, src.as_ptr().add(r * dim + j0)));
    }
    for (out, t) in block.iter_mut().zip(&transpose16(&v)) {
        _mm512_storeu_si512(out.as_mut_ptr() as *mut _, *t);
    }
}

/// Calls `f(j, columns)` for j = 0, 1, .., dim - 1 in order, where `columns[s]`
/// holds value j of each of the first `rows` (at most 16) rows of `dim` values
/// of `srcs[s]`, one row per lane, zeros in the lanes past `rows`. A sum along
/// rows kept in a block then adds each row in index order, as a loop over one
/// row does (same bits), for 16 rows at once.
#[inline(always)]
pub fn columns<const N: usize>(srcs: [&[f32]; N], rows: usize, dim: usize, mut f: impl FnMut(usize, [Lanes; N])) {
    assert!(
        rows <= LANES && srcs.iter().all(|s| s.len() >= rows * dim),
        "columns: more than 16 rows, or a source shorter than its rows"
    );
    // Plain loops, not `array::map`: LLVM keeps map's closure out of line,
    // compiled for baseline x86-64.
    let mut blocks = [[[0.0; LANES]; LANES]; N];
    let mut cols = [[0.0; LANES]; N];
    for j0 in (0..dim).step_by(LANES) {
        // The last block may be partial (softmax rows are often shorter than 16).
        let width = (dim - j0).min(LANES);
        for (block, s) in blocks.iter_mut().zip(&srcs) {
            transpose_rows(s, rows, dim, j0, width, block);
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
                for (r, &v) in a.iter().enumerate().take(LANES) {
                    assert_eq!(v, if r < rows { (r * dim + j) as f32 } else { 0.0 }, "row {r}, column {j}");
                }
            });
            assert_eq!(seen, (0..dim).collect::<Vec<_>>());
        }
    }
}
