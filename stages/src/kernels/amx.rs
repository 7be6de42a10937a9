//! bf16 matrix products on Intel AMX tiles (Sapphire Rapids and later): the
//! `precision: bf16` path of the dense layers. Operands are rounded to bf16 as
//! they are packed into tiles; TDPBF16PS multiplies pairs of bf16 values and
//! accumulates in f32, and the result stays f32 (PyTorch's bf16 autocast
//! rounds its matmul outputs to bf16 as well; this does not).
//!
//! Each 32 x 32 output block is four 16 x 16 f32 accumulator tiles (tmm0-3)
//! fed by two 16-row tiles of the left operand (tmm4-5) and two 16-column
//! tiles of the right one (tmm6-7), 32 steps of k at a time; each load comes
//! right before the first product that needs it, so the next step's loads wait
//! only for the products still reading their tile (tiles are not renamed).
//! Tasks are 32-row slabs of the output; every element is computed by one fixed
//! sequence of tile operations, so results do not depend on the thread split.

use std::arch::asm;
use std::arch::x86_64::*;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::gemm::Operand;
use super::precision::add_bias;
use super::transpose::transpose16;
use super::wide::wide;

/// Rows of a tile, and bf16 values in a tile row (64 bytes).
const TILE_ROWS: usize = 16;
const TILE_K: usize = 32;
/// Values in one packed tile.
const TILE: usize = TILE_ROWS * TILE_K;
/// Output rows and columns per task block: 2 x 2 tiles.
const BLOCK: usize = 2 * TILE_ROWS;

/// Whether the bf16 products run on the tiles: the process runs at level `amx`
/// (`PIPE_SIMD` below it times another path on an AMX machine).
pub fn available() -> bool {
    super::simd::level() == super::simd::Level::Amx
}

/// Whether this CPU has AMX-BF16 and the kernel granted this process the tile
/// state (Linux asks programs to request it once, with arch_prctl).
pub(super) fn tiles_granted() -> bool {
    static GRANTED: OnceLock<bool> = OnceLock::new();
    *GRANTED.get_or_init(|| cpu_has_amx_bf16() && is_x86_feature_detected!("avx512bw") && request_tile_state())
}

fn cpu_has_amx_bf16() -> bool {
    // CPUID leaf 7 (zeros where unsupported): EDX bit 22 is AMX-BF16, bit 24 AMX-TILE.
    let edx = __cpuid_count(7, 0).edx;
    edx & (1 << 22) != 0 && edx & (1 << 24) != 0
}

fn request_tile_state() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a plain syscall with integer arguments; it fails cleanly where unsupported.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
}

/// `lhs` (m x k) times `rhs` (k x n) as a row-major m x n vector, plus `bias`
/// on every row where given. Only call when `available()`.
// The output starts unwritten (clippy's uninit_vec): zeroing first would write every value twice.
#[allow(clippy::uninit_vec)]
pub fn product(m: usize, n: usize, k: usize, lhs: Operand, rhs: Operand, bias: Option<&[f32]>) -> Vec<f32> {
    assert!(tiles_granted(), "AMX bf16 product on a CPU without AMX-BF16");
    let steps = k.div_ceil(TILE_K);
    let rhs = pack_rhs(rhs, k, n, steps);
    let mut out = Vec::with_capacity(m * n);
    // SAFETY: every f32 bit pattern is valid, and each slab below writes every
    // value of its rows before anything reads them.
    unsafe { out.set_len(m * n) };
    out.par_chunks_mut(BLOCK * n).enumerate().for_each(|(slab, dst)| {
        let lhs = pack_lhs_slab(lhs, slab * BLOCK, m, k, steps);
        // SAFETY: the tiles are granted (asserted above); the packed operands hold
        // `steps` tiles per band with every band the loops reach.
        unsafe { slab_product(&lhs, &rhs, steps, n, dst) };
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
        // SAFETY: `tiles_granted()` (asserted by `product`) includes AVX-512BW.
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

/// The 64-byte tile configuration LDTILECFG reads (palette 1).
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

/// One 32-row slab of the output (`dst`, fewer rows at the bottom edge), all columns.
///
/// # Safety
/// AMX must be available; `lhs` holds two bands and `rhs` every 16-column band
/// of the padded width, each of `steps` tiles.
unsafe fn slab_product(lhs: &[u16], rhs: &[u16], steps: usize, n: usize, dst: &mut [f32]) {
    let mut config = TileConfig { palette: 1, start_row: 0, reserved: [0; 14], bytes_per_row: [0; 16], rows: [0; 16] };
    for t in 0..8 {
        config.bytes_per_row[t] = 64;
        config.rows[t] = TILE_ROWS as u8;
    }
    let rows = dst.len() / n;
    let band = steps * TILE;
    // Blocks that stick out of the output go through this buffer.
    let mut edge = [0f32; BLOCK * BLOCK];
    asm!("ldtilecfg [{}]", in(reg) &config as *const TileConfig);
    for block in 0..n.div_ceil(BLOCK) {
        asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3");
        let (a0, b0) = (lhs.as_ptr(), rhs.as_ptr().add(2 * block * band));
        for s in 0..steps {
            asm!(
                "tileloadd tmm4, [{a0} + {stride}*1]",
                "tileloadd tmm6, [{b0} + {stride}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{b1} + {stride}*1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tileloadd tmm5, [{a1} + {stride}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a0 = in(reg) a0.add(s * TILE),
                a1 = in(reg) a0.add(band + s * TILE),
                b0 = in(reg) b0.add(s * TILE),
                b1 = in(reg) b0.add(band + s * TILE),
                stride = in(reg) 2 * TILE_K,
            );
        }
        let col = block * BLOCK;
        let cols = (n - col).min(BLOCK);
        let inside = rows == BLOCK && cols == BLOCK;
        let (base, stride) = if inside { (dst.as_mut_ptr().add(col), n) } else { (edge.as_mut_ptr(), BLOCK) };
        asm!(
            "tilestored [{c00} + {s}*1], tmm0",
            "tilestored [{c01} + {s}*1], tmm1",
            "tilestored [{c10} + {s}*1], tmm2",
            "tilestored [{c11} + {s}*1], tmm3",
            c00 = in(reg) base,
            c01 = in(reg) base.add(TILE_ROWS),
            c10 = in(reg) base.add(TILE_ROWS * stride),
            c11 = in(reg) base.add(TILE_ROWS * stride + TILE_ROWS),
            s = in(reg) 4 * stride,
        );
        if !inside {
            for r in 0..rows {
                dst[r * n + col..r * n + col + cols].copy_from_slice(&edge[r * BLOCK..r * BLOCK + cols]);
            }
        }
    }
    // Hand the tile state back so context switches stop saving it.
    asm!("tilerelease");
}

#[cfg(test)]
mod tests {
    use super::super::bf16::product_portable;
    use super::*;

    /// Deterministic values of both signs and several magnitudes.
    fn values(len: usize, salt: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * 0.731 + salt).sin() * (1.0 + (i % 5) as f32)).collect()
    }

    #[test]
    fn tiles_match_the_portable_bf16_product() {
        if !cpu_has_amx_bf16() {
            eprintln!("this CPU has no AMX-BF16: only the portable bf16 product runs here");
            return;
        }
        assert!(tiles_granted(), "the CPU has AMX-BF16 but the kernel refused the tile state");
        // Sizes off the 16/32 grid on every side, and both layouts of each operand.
        let (m, n, k) = (45, 70, 100);
        let (a, b) = (values(m * k, 0.3), values(k * n, 1.7));
        let lhs = [Operand::rows(&a, k), Operand::transposed(&a, m)];
        let rhs = [Operand::rows(&b, n), Operand::transposed(&b, k)];
        for (l, r) in lhs.iter().flat_map(|l| rhs.iter().map(move |r| (*l, *r))) {
            let tiles = product(m, n, k, l, r, None);
            let portable = product_portable(m, n, k, l, r);
            // The bias goes on after the sums, as a pass of its own would add it (same bits).
            let bias = values(n, 2.9);
            let biased = product(m, n, k, l, r, Some(&bias));
            for (i, (x, y)) in biased.iter().zip(&tiles).enumerate() {
                assert_eq!(x.to_bits(), (y + bias[i % n]).to_bits(), "element {i} with the bias");
            }
            // Both sum exact bf16 products in f32; only the order of the sums differs.
            let scale: f32 = a.iter().map(|v| v.abs()).fold(0.0, f32::max)
                * b.iter().map(|v| v.abs()).fold(0.0, f32::max)
                * k as f32;
            for (i, (x, y)) in tiles.iter().zip(&portable).enumerate() {
                assert!((x - y).abs() <= 1e-6 * scale, "element {i}: tiles {x}, portable {y}");
            }
        }
    }
}
