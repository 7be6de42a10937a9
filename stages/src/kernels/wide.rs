//! Loops compiled for AVX-512 where the CPU has it. The crate builds for baseline
//! x86-64 (SSE2, no FMA), where LLVM vectorises elementwise loops 4 wide at best;
//! `wide(|| ..)` compiles the closure, and what it inlines, with AVX-512 and FMA so
//! the same loops run 16 wide. Mark the closures on the way `#[inline(always)]`:
//! one LLVM keeps out of line is compiled for baseline, where `mul_add` is a libm
//! call. Only the width changes: Rust
//! never fuses `a * b + c` on its own nor reorders a sum, so the bits are the same
//! on either path.

#[inline(always)]
pub fn wide<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features `avx512` is compiled for.
        return unsafe { avx512(body) };
    }
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn avx512<R>(body: impl FnOnce() -> R) -> R {
    body()
}
