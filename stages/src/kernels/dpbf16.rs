//! bf16 matrix products with AVX512-BF16's VDPBF16PS (AMD Zen 4, Intel Cooper
//! Lake and later): the `precision: bf16` path of the dense layers at level
//! `avx512` where the CPU has it, on the operands `bf16_tiles` packs.
//!
//! Each 8 x 32 output block is sixteen vector accumulators. For each pair of k,
//! the right operand gives two 16-column vectors (a row of a packed tile holds
//! the pair of each column), and each of the 8 rows its pair broadcast to every
//! lane; VDPBF16PS adds both products of the pair to each lane. A slab's 32
//! rows are four such blocks for every 32 columns, each over all of k, so one
//! output value is one fixed sequence of additions whatever the thread split.

use std::arch::x86_64::*;

use super::bf16_tiles::{self, BLOCK, TILE, TILE_K, TILE_ROWS};
use super::gemm::Operand;

/// Output rows per block: 16 accumulators, two right-operand vectors and a
/// broadcast leave room in the 32 vector registers.
const ROWS: usize = 8;
/// 32-bit pairs in a tile, and in a tile row.
const PAIRS: usize = TILE / 2;
const ROW_PAIRS: usize = TILE_K / 2;

/// Whether the bf16 products run on VDPBF16PS: the level is `avx512` or above
/// and the CPU has AVX512-BF16 (`simd::bf16_dot`).
pub fn available() -> bool {
    super::simd::bf16_dot()
}

/// `lhs` (m x k) times `rhs` (k x n) as a row-major m x n vector, plus `bias`
/// on every row where given. Only call when `available()`.
pub fn product(m: usize, n: usize, k: usize, lhs: Operand, rhs: Operand, bias: Option<&[f32]>) -> Vec<f32> {
    assert!(available(), "AVX512-BF16 product on a CPU without it, or below level avx512");
    // SAFETY: level avx512 includes AVX-512BW; the CPU has AVX512-BF16 (asserted).
    unsafe { bf16_tiles::product(m, n, k, lhs, rhs, bias, slab_product) }
}

/// One 32-row slab of the output (`dst`, fewer rows at the bottom edge), all columns.
///
/// # Safety
/// The CPU must have AVX512-BF16; `lhs` holds two bands and `rhs` every
/// 16-column band of the padded width, each of `steps` tiles.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn slab_product(lhs: &[u16], rhs: &[u16], steps: usize, n: usize, dst: &mut [f32]) {
    let rows = dst.len() / n;
    let band = steps * PAIRS;
    let (lhs, rhs) = (lhs.as_ptr() as *const u32, rhs.as_ptr() as *const u32);
    // Blocks that stick out of the output go through this buffer.
    let mut edge = [0f32; ROWS * BLOCK];
    for block in 0..n.div_ceil(BLOCK) {
        let col = block * BLOCK;
        let cols = (n - col).min(BLOCK);
        let b0 = rhs.add(2 * block * band);
        for first in (0..rows).step_by(ROWS) {
            // Rows [first, first + 8) are half of a 16-row band's tiles.
            let a = lhs.add(first / TILE_ROWS * band + first % TILE_ROWS * ROW_PAIRS);
            let acc = block_product(a, b0, b0.add(band), steps);
            let here = (rows - first).min(ROWS);
            let inside = here == ROWS && cols == BLOCK;
            let (base, stride) =
                if inside { (dst.as_mut_ptr().add(first * n + col), n) } else { (edge.as_mut_ptr(), BLOCK) };
            for (r, pair) in acc.chunks_exact(2).enumerate() {
                _mm512_storeu_ps(base.add(r * stride), pair[0]);
                _mm512_storeu_ps(base.add(r * stride + TILE_ROWS), pair[1]);
            }
            if !inside {
                for r in 0..here {
                    let at = (first + r) * n + col;
                    dst[at..at + cols].copy_from_slice(&edge[r * BLOCK..r * BLOCK + cols]);
                }
            }
        }
    }
}

/// The 8 x 32 block whose rows start at `a` (in a band's first tile) and whose
/// two 16-column bands start at `b0` and `b1`, over `steps` tiles of k: for
/// row r, accumulators 2r and 2r + 1.
#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn block_product(a: *const u32, b0: *const u32, b1: *const u32, steps: usize) -> [__m512; 2 * ROWS] {
    let mut acc = [_mm512_setzero_ps(); 2 * ROWS];
    for step in 0..steps {
        let (a, b0, b1) = (a.add(step * PAIRS), b0.add(step * PAIRS), b1.add(step * PAIRS));
        for pair in 0..ROW_PAIRS {
            let right = [b0, b1].map(|b| bf16s(_mm512_loadu_si512(b.add(pair * 16) as *const _)));
            for r in 0..ROWS {
                let left = bf16s(_mm512_set1_epi32(a.add(r * ROW_PAIRS + pair).read_unaligned() as i32));
                acc[2 * r] = _mm512_dpbf16_ps(acc[2 * r], left, right[0]);
                acc[2 * r + 1] = _mm512_dpbf16_ps(acc[2 * r + 1], left, right[1]);
            }
        }
    }
    acc
}

/// The same 512 bits seen as 32 bf16 values.
#[inline(always)]
fn bf16s(v: __m512i) -> __m512bh {
    // SAFETY: both are 512 plain bits.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
}
