//! bf16 operands packed as AMX tiles, and the product that runs a slab kernel
//! over them: the layout both bf16 kernels read (`amx`: TDPBF16PS on tiles,
//! `dpbf16`: AVX512-BF16's VDPBF16PS on vectors). Operands are rounded to bf16
//! as they are packed; the kernels multiply pairs of bf16 values and accumulate
//! in f32, and the result stays f32 (PyTorch's bf16 autocast rounds its matmul
//! outputs to bf16 as well; this does not). Tasks are 32-row slabs of the
//! output; every element is computed by one fixed sequence of operations, so
//! results do not depend on the thread split.

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::gemm::Operand;
use super::precision::add_bias;
use super::transpose::transpose16;
use super::wide::wide;

/// Rows of a tile, and bf16 values in a tile row (64 bytes).
pub(super) const TILE_ROWS: usize = 16;
pub(super) const TILE_K: usize = 32;
/// Values in one packed tile.
pub(super) const TILE: usize = TILE_ROWS * TILE_K;
/// Output rows and columns per task block: 2 x 2 tiles.
pub(super) const BLOCK: usize = 2 * TILE_ROWS;

/// One 32-row slab of the output (`dst`, fewer rows at the bottom edge), all
/// `n` columns, from the slab's packed rows (two bands) and every band of the
/// right operand, each of `steps` tiles.
pub(super) type SlabKernel = unsafe fn(lhs: &[u16], rhs: &[u16], steps: usize, n: usize, dst: &mut [f32]);

/// `lhs` (m x k) times `rhs` (k x n) as a row-major m x n vector, plus `bias`
/// on every row where given, by `slab` on each 32-row slab in parallel.
///
/// # Safety
/// The CPU must have AVX-512BW (the packing) and whatever `slab` needs.
// The output starts unwritten (clippy's uninit_vec): zeroing first would write every value twice.
#[allow(clippy::uninit_vec)]
pub(super) unsafe fn product(
    m: usize,
    n: usize,
    k: usize,
    lhs: Operand,
    rhs: Operand,
    bias: Option<&[f32]>,
    slab: SlabKernel,
) -> Vec<f32> {
    let steps = k.div_ceil(TILE_K);
    let rhs = pack_rhs(rhs, k, n, steps);
    let mut out = Vec::with_capacity(m * n);
    // SAFETY: every f32 bit pattern is valid, and each slab below writes every
    // value of its rows before anything reads them.
    unsafe { out.set_len(m * n) };
    out.par_chunks_mut(BLOCK * n).enumerate().for_each(|(at, dst)| {
        let lhs = pack_lhs_slab(lhs, at * BLOCK, m, k, steps);
        // SAFETY: the caller checked the CPU; the packed operands hold `steps`
        // tiles per band with every band the loops reach.
        unsafe { slab(&lhs, &rhs, steps, n, dst) };
        if let Some(bias) = bias {
            wide(
                #[inline(always)]
                || add_bias(dst, bias),
            );
        }
    });
    out
}

/// The left operand's rows [first, first + 32) as two bands of `steps` tiles
/// (16 rows x 32 k each, row-major), zero beyond m and k.
fn pack_lhs_slab(a: Operand, first: usize, m: usize, k: usize, steps: usize) -> Vec<u16> {
    let lines = Lines { data: a.data, line_stride: a.rs, k_stride: a.cs, lines: m, k };
    let mut packed = tiles(2 * steps);
    for (i, tile) in packed.chunks_exact_mut(TILE).enumerate() {
        // SAFETY: `product`'s caller checked AVX-512BW.
        unsafe { pack_tile(lines, first + i / steps * TILE_ROWS, i % steps * TILE_K, Side::Lhs, tile) };
    }
    packed
}

/// The right operand as bands of 16 columns (padded to whole 32-column blocks),
/// `steps` tiles each, in the pair-interleaved layout TDPBF16PS reads: tile row
/// j holds (k = 2j, 2j + 1) of each of the 16 columns.
fn pack_rhs(b: Operand, k: usize, n: usize, steps: usize) -> Vec<u16> {
    let lines = Lines { data: b.data, line_stride: b.cs, k_stride: b.rs, lines: n, k };
    let bands = n.div_ceil(BLOCK) * 2;
    let mut packed = tiles(bands * steps);
    packed.par_chunks_mut(steps * TILE).enumerate().for_each(|(band, dst)| {
        for (step, tile) in dst.chunks_exact_mut(TILE).enumerate() {
            // SAFETY: as in pack_lhs_slab.
            unsafe { pack_tile(lines, band * TILE_ROWS, step * TILE_K, Side::Rhs, tile) };
        }
    });
    packed
}

/// Room for `count` tiles, left unwritten: `pack_tile` writes every value of a
/// tile (zeros outside the operand), and zeroing first would write every value twice.
#[allow(clippy::uninit_vec)]
fn tiles(count: usize) -> Vec<u16> {
    let mut packed = Vec::with_capacity(count * TILE);
    // SAFETY: every u16 bit pattern is valid; each caller packs all `count` tiles before the kernel reads them.
    unsafe { packed.set_len(count * TILE) };
    packed
}

/// An operand seen as lines of values along k: the left operand's rows or the right one's columns.
#[derive(Clone, Copy)]
struct Lines<'a> {
    data: &'a [f32],
    line_stride: usize,
    k_stride: usize,
    lines: usize,
    k: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    /// Tile rows are lines: 16 rows x 16 k pairs.
    Lhs,
    /// Tile rows are k pairs: 16 k pairs x 16 columns.
    Rhs,
}

/// One tile from lines [line0, line0 + 16) and k [k0, k0 + 32), zeros outside
/// the operand. Each 32-bit element is a pair (k even, k odd) of bf16 values,
/// low half first. The operand is read along whichever index is contiguous,
/// sixteen values at a time; a 16 x 16 transpose turns the vectors into tile rows
/// where they come out as columns.
///
/// # Safety
/// The CPU must have AVX-512BW; a line or k stride must be 1 (checked).
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_tile(src: Lines, line0: usize, k0: usize, side: Side, tile: &mut [u16]) {
    assert!(
        tile.len() == TILE && (src.k_stride == 1 || src.line_stride == 1),
        "AMX packing: bad tile or operand layout"
    );
    let lines = src.lines.saturating_sub(line0).min(TILE_ROWS);
    let ks = src.k.saturating_sub(k0).min(TILE_K);
    let mut vectors = [_mm512_setzero_si512(); TILE_ROWS];
    // One vector per line (32 consecutive k), or one per k pair (16 consecutive lines).
    let per_line = src.k_stride == 1;
    if per_line {
        for (line, v) in vectors.iter_mut().enumerate().take(lines) {
            let at = (line0 + line) * src.line_stride + k0;
            let low = _mm512_cvtepi32_epi16(round16(src.data, at, ks.min(16)));
            let high = _mm512_cvtepi32_epi16(round16(src.data, at + 16, ks.saturating_sub(16)));
            *v = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low), high);
        }
    } else {
        for (pair, v) in vectors.iter_mut().enumerate().take(ks.div_ceil(2)) {
            let kk = k0 + 2 * pair;
            let even = round16(src.data, kk * src.k_stride + line0, lines);
            let odd = if 2 * pair + 1 < ks {
                round16(src.data, (kk + 1) * src.k_stride + line0, lines)
            } else {
                _mm512_setzero_si512()
            };
            *v = _mm512_or_si512(even, _mm512_slli_epi32::<16>(odd));
        }
    }
    let rows = if per_line == (side == Side::Lhs) { vectors } else { transpose16(&vectors) };
    let out = tile.as_mut_ptr() as *mut u32;
    for (row, v) in rows.iter().enumerate() {
        _mm512_storeu_si512(out.add(row * 16) as *mut _, *v);
    }
}

/// `len` (at most 16) values of `data` from `at` rounded to bf16 as `bf16::round`
/// does, each in the low half of a 32-bit lane; zeros after them.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn round16(data: &[f32], at: usize, len: usize) -> __m512i {
    if len == 0 {
        return _mm512_setzero_si512();
    }
    assert!(len <= 16 && at + len <= data.len(), "AMX packing read outside its operand");
    let v = _mm512_maskz_loadu_ps(((1u32 << len) - 1) as u16, data.as_ptr().add(at));
    let bits = _mm512_castps_si512(v);
    let high = _mm512_srli_epi32::<16>(bits);
    let bias = _mm512_add_epi32(_mm512_and_si512(high, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7fff));
    let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(bits, bias));
    let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
    _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(high, _mm512_set1_epi32(0x40)))
}

#[cfg(test)]
mod tests {
    use super::super::bf16::product_portable;
    use super::super::{amx, dpbf16, simd};
    use super::*;

    /// Deterministic values of both signs and several magnitudes.
    fn values(len: usize, salt: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * 0.731 + salt).sin() * (1.0 + (i % 5) as f32)).collect()
    }

    /// Each kernel this CPU has (whatever `PIPE_SIMD` says), against the portable product.
    #[test]
    fn each_kernel_matches_the_portable_bf16_product() {
        let mut kernels: Vec<(&str, SlabKernel)> = vec![];
        if amx::cpu_has_amx_bf16() {
            assert!(amx::tiles_granted(), "the CPU has AMX-BF16 but the kernel refused the tile state");
            kernels.push(("amx", amx::slab_product));
        } else {
            eprintln!("this CPU has no AMX-BF16: the tile kernel is not tested here");
        }
        if simd::has_bf16_dot() && simd::detected() >= simd::Level::Avx512 {
            kernels.push(("dpbf16", dpbf16::slab_product));
        } else {
            eprintln!("this CPU has no AVX512-BF16: the VDPBF16PS kernel is not tested here");
        }
        // Sizes off the 8/16/32 grid on every side, and both layouts of each operand.
        let (m, n, k) = (45, 70, 100);
        let (a, b) = (values(m * k, 0.3), values(k * n, 1.7));
        let lhs = [Operand::rows(&a, k), Operand::transposed(&a, m)];
        let rhs = [Operand::rows(&b, n), Operand::transposed(&b, k)];
        let bias = values(n, 2.9);
        let scale: f32 =
            a.iter().map(|v| v.abs()).fold(0.0, f32::max) * b.iter().map(|v| v.abs()).fold(0.0, f32::max) * k as f32;
        for (name, kernel) in kernels {
            for (l, r) in lhs.iter().flat_map(|l| rhs.iter().map(move |r| (*l, *r))) {
                // SAFETY: the CPU has what each kernel needs (checked above), AVX-512BW with it.
                let (plain, biased) =
                    unsafe { (product(m, n, k, l, r, None, kernel), product(m, n, k, l, r, Some(&bias), kernel)) };
                // The bias goes on after the sums, as a pass of its own would add it (same bits).
                for (i, (x, y)) in biased.iter().zip(&plain).enumerate() {
                    assert_eq!(x.to_bits(), (y + bias[i % n]).to_bits(), "{name}: element {i} with the bias");
                }
                // Both sum exact bf16 products in f32; only the order of the sums differs.
                let portable = product_portable(m, n, k, l, r);
                for (i, (x, y)) in plain.iter().zip(&portable).enumerate() {
                    assert!((x - y).abs() <= 1e-6 * scale, "{name}: element {i}: kernel {x}, portable {y}");
                }
            }
        }
    }
}
