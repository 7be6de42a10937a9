//! AMX probe (issue 8): can this machine run AMX bf16 tile matmuls, and how fast?
//! Standalone, not part of the workspace:
//!     rustc -C opt-level=3 bench/amx_probe.rs -o /tmp/amx_probe && /tmp/amx_probe
//! Four 16x16 f32 accumulator tiles, each step two 16x32 bf16 A tiles and two B tiles
//! loaded from L1 and four TDPBF16PS (16 x 16 x 32 multiply-adds each), on one core.

use std::arch::asm;
use std::time::Instant;

extern "C" {
    fn syscall(number: i64, ...) -> i64;
}

/// The 64-byte tile configuration LDTILECFG reads (palette 1).
#[repr(C, align(64))]
struct TileCfg { palette: u8, start_row: u8, _r: [u8; 14], colsb: [u16; 16], rows: [u8; 16] }

fn main() {
    // Ask the kernel for the AMX tile data state (Linux >= 5.16): arch_prctl is syscall
    // 158, ARCH_REQ_XCOMP_PERM 0x1023, XFEATURE_XTILEDATA 18.
    let r = unsafe { syscall(158, 0x1023, 18) };
    println!("arch_prctl(REQ_XCOMP_PERM, XTILEDATA) = {r}");
    if r != 0 { println!("errno {}", std::io::Error::last_os_error()); return; }
    let mut cfg = TileCfg { palette: 1, start_row: 0, _r: [0; 14], colsb: [0; 16], rows: [0; 16] };
    for t in 0..8 { cfg.colsb[t] = 64; cfg.rows[t] = 16; }
    // A: 2 tiles of 16x32 bf16, B: 2 tiles (VNNI) 16x(16x2) bf16, all ones (bf16 1.0 = 0x3f80).
    let a = vec![0x3f80u16; 2 * 16 * 32];
    let b = vec![0x3f80u16; 2 * 16 * 32];
    let mut c = vec![0f32; 4 * 256];
    let iters: usize = 2_000_000;
    let t0 = Instant::now();
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) &cfg as *const TileCfg);
        asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3");
        let (pa, pb, stride) = (a.as_ptr(), b.as_ptr(), 64usize);
        for _ in 0..iters {
            asm!(
                "tileloadd tmm4, [{a} + {s}*1]",
                "tileloadd tmm5, [{a2} + {s}*1]",
                "tileloadd tmm6, [{b} + {s}*1]",
                "tileloadd tmm7, [{b2} + {s}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a = in(reg) pa, a2 = in(reg) pa.add(512), b = in(reg) pb, b2 = in(reg) pb.add(512), s = in(reg) stride,
            );
        }
        let pc = c.as_mut_ptr();
        asm!("tilestored [{c} + {s}*1], tmm0", c = in(reg) pc, s = in(reg) 64usize);
        asm!("tilestored [{c} + {s}*1], tmm1", c = in(reg) pc.add(256), s = in(reg) 64usize);
        asm!("tilerelease");
    }
    let dt = t0.elapsed().as_secs_f64();
    let flops = iters as f64 * 4.0 * 16.0 * 16.0 * 32.0 * 2.0;
    println!("c[0] = {} (expect {}), {:.1} GFLOP/s bf16 on one core", c[0], iters as f64 * 32.0, flops / dt / 1e9);
}
