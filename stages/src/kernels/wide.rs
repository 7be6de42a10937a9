//! Loops compiled for the SIMD level the process runs at (`simd::level`). The
//! crate builds for baseline x86-64 (SSE2, no FMA), where LLVM vectorises
//! elementwise loops 4 wide at best; `wide(|| ..)` compiles the closure, and what
//! it inlines, for AVX-512 or AVX2 (each with FMA) as well, so the same loops run
//! 16 or 8 wide. Mark the closures on the way `#[inline(always)]`: one LLVM keeps
//! out of line is compiled for baseline, where `mul_add` is a libm call. Only the
//! width changes: Rust never fuses `a * b + c` on its own nor reorders a sum, so
//! the bits are the same on every path.

use super::simd;

#[inline(always)]
pub fn wide<R>(body: impl FnOnce() -> R) -> R {
    match simd::level() {
        // SAFETY: `level` reports only what the CPU has.
        #[cfg(target_arch = "x86_64")]
        simd::Level::Avx512 | simd::Level::Amx => unsafe { avx512(body) },
        #[cfg(target_arch = "x86_64")]
        simd::Level::Avx2 => unsafe { avx2(body) },
        _ => body(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
unsafe fn avx512<R>(body: impl FnOnce() -> R) -> R {
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(body: impl FnOnce() -> R) -> R {
    body()
}
