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

/// Values [j0, j0 + width) of each of the first `rows` rows of `dim` values of `src`.
#[derive(Clone, Copy)]
struct Window<'a> {
    src: &'a [f32],
    rows: usize,
    dim: usize,
    j0: usize,
    width: usize,
}

/// Values [j0, j0 + width) (width at most 16) of the first `rows` (at most 16)
/// rows of `dim` values of `src`, transposed into `block`: block[c] holds value
/// j0 + c of each row, one row per lane, zeros past `rows`. Written in place
/// rather than returned: staging copies through 1 KiB arrays and per-row
/// `copy_from_slice` of a variable width become libc memcpy calls.
#[inline(always)]
fn transpose_rows(window: Window, block: &mut [Lanes; LANES]) {
    let Window { src, rows, dim, j0, width } = window;
    assert!(
        rows <= LANES && width <= LANES && (rows == 0 || (rows - 1) * dim + j0 + width <= src.len()),
        "transpose_rows: outside the source"
    );
    #[cfg(target_arch = "x86_64")]
    match super::simd::level() {
        // SAFETY: `level` reports only what the CPU has; the reads stay inside `src` (asserted).
        super::simd::Level::Avx512 | super::simd::Level::Amx => return unsafe { transpose_rows_avx512(window, block) },
        super::simd::Level::Avx2 => return unsafe { transpose_rows_avx2(window, block) },
        super::simd::Level::Baseline => {}
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
unsafe fn transpose_rows_avx512(window: Window, block: &mut [Lanes; LANES]) {
    let Window { src, rows, dim, j0, width } = window;
    let mask = ((1u32 << width) - 1) as u16;
    let mut v = [_mm512_setzero_si512(); LANES];
    for (r, v) in v.iter_mut().enumerate().take(rows) {
        *v = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, src.as_ptr().add(r * dim + j0)));
    }
    for (out, t) in block.iter_mut().zip(&transpose16(&v)) {
        _mm512_storeu_si512(out.as_mut_ptr() as *mut _, *t);
    }
}

/// `transpose_rows` on AVX2 registers: the 16 x 16 block as four 8 x 8 ones, each
/// row half read with one masked load.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_rows_avx2(window: Window, block: &mut [Lanes; LANES]) {
    let Window { src, rows, dim, j0, width } = window;
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for half in 0..2 {
        // Lanes of this column half that hold values of the rows.
        let inside = width.saturating_sub(8 * half).min(8) as i32;
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(inside), lane);
        for rows8 in 0..2 {
            let mut v = [_mm256_setzero_ps(); 8];
            for (i, v) in v.iter_mut().enumerate() {
                let r = 8 * rows8 + i;
                if r < rows && inside > 0 {
                    *v = _mm256_maskload_ps(src.as_ptr().add(r * dim + j0 + 8 * half), mask);
                }
            }
            for (i, t) in transpose8(&v).iter().enumerate() {
                _mm256_storeu_ps(block[8 * half + i].as_mut_ptr().add(8 * rows8), *t);
            }
        }
    }
}

/// An 8 x 8 matrix of f32 (one row per vector) transposed: interleaves within
/// 128-bit lanes, then an exchange of the lanes.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn transpose8(v: &[__m256; 8]) -> [__m256; 8] {
    let mut t = [_mm256_setzero_ps(); 8];
    for i in 0..4 {
        t[2 * i] = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    // u[4g + p], 128-bit lane l: column 4l + p of rows 4g..4g + 4.
    let mut u = [_mm256_setzero_ps(); 8];
    for g in 0..2 {
        u[4 * g] = _mm256_shuffle_ps::<0x44>(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm256_shuffle_ps::<0xee>(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm256_shuffle_ps::<0x44>(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm256_shuffle_ps::<0xee>(t[4 * g + 1], t[4 * g + 3]);
    }
    let mut out = [_mm256_setzero_ps(); 8];
    for p in 0..4 {
        out[p] = _mm256_permute2f128_ps::<0x20>(u[p], u[4 + p]);
        out[4 + p] = _mm256_permute2f128_ps::<0x31>(u[p], u[4 + p]);
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
            transpose_rows(Window { src: s, rows, dim, j0, width }, block);
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
