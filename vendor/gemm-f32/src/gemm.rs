pub mod f32 {
    type T = f32;
    // pipe patch: the SSE2 kernels where the CPU (or the cap) rules out FMA.
    gemm_common::gemm_def!(f32, 2, x86_baseline: sse);
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    gemm_common::__inject_mod!(sse, f32, 4, Scalar, false);
}
