//! Allocator settings for training. A step allocates and frees the same large
//! buffers (activations, gradients, the 47 MB word-embedding gradient) every
//! time. glibc serves blocks over 128 KiB with mmap and returns them to the
//! kernel on free, so each step faulted every page in again: profiles of
//! MiniLM-L6 training showed a quarter of all CPU time in page faults, and
//! `pipe bench train` ran at 65 examples/s with them against 90 without.

/// Makes glibc keep freed memory for reuse: no mmap for large blocks, no trim of
/// the heap top. Peak memory is what a step needs, as before; it just is not
/// handed back between steps. Call at process start, before other threads exist.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any
    // thread exists, so no allocation runs concurrently.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
