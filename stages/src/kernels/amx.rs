//! bf16 matrix products on Intel AMX tiles (Sapphire Rapids and later): the
//! `precision: bf16` path of the dense layers at level `amx`, on the operands
//! `bf16_tiles` packs.
//!
//! Each 32 x 32 output block is four 16 x 16 f32 accumulator tiles (tmm0-3)
//! fed by two 16-row tiles of the left operand (tmm4-5) and two 16-column
//! tiles of the right one (tmm6-7), 32 steps of k at a time; each load comes
//! right before the first product that needs it, so the next step's loads wait
//! only for the products still reading their tile (tiles are not renamed).

use std::arch::asm;
use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::bf16_tiles::{self, BLOCK, TILE, TILE_K, TILE_ROWS};
use super::gemm::Operand;

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

pub(super) fn cpu_has_amx_bf16() -> bool {
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
pub fn product(m: usize, n: usize, k: usize, lhs: Operand, rhs: Operand, bias: Option<&[f32]>) -> Vec<f32> {
    assert!(tiles_granted(), "AMX bf16 product on a CPU without AMX-BF16");
    // SAFETY: the tiles are granted, which includes AVX-512BW.
    unsafe { bf16_tiles::product(m, n, k, lhs, rhs, bias, slab_product) }
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
pub(super) unsafe fn slab_product(lhs: &[u16], rhs: &[u16], steps: usize, n: usize, dst: &mut [f32]) {
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
