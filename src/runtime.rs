//! Process setup of the `pipe` binary, done once at start before any thread
//! exists: the allocator, glibc's malloc settings and candle's thread pool.
//! Library code never touches process-wide state; the binary decides.

use std::alloc::{GlobalAlloc, Layout, System};

/// Sets CANDLE_NUM_THREADS=1 unless the user set it. candle runs elementwise ops
/// on a pool of its own whose caller spins until every worker is done, next to
/// rayon's pool that runs the matmuls and the custom ops: with both, the pools
/// compete for the cores. The custom ops already split their loops on rayon's
/// pool, so candle's own pool only adds contention. candle reads the variable
/// once, when its pool first starts; setting the environment is not thread-safe.
pub fn single_threaded_elementwise() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// Makes glibc keep freed memory for reuse: no mmap for large blocks, no trim of
/// the heap top. A training step allocates and frees the same large buffers
/// every time; glibc would serve them with mmap and unmap them on free, so every
/// step would fault each page in again. Peak memory is what a step needs; it
/// just is not handed back between steps. Kept memory stays in the arena that
/// freed it, and glibc gives threads up to 8 arenas per core: a training step (on
/// a pool thread) and the stages after it would each keep their own peak, so
/// two arenas are the most.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any
    // thread exists, so no allocation runs concurrently.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// The global allocator of the `pipe` binary: the system allocator, with every
/// block of 4 KiB or more starting on a 64-byte cache line. glibc aligns to 16
/// bytes, so most rows of a tensor would straddle two cache lines and each
/// 64-byte vector load of one (the AMX packing, the elementwise kernels) touch both.
pub struct LineAligned;

/// Blocks from this size up are line-aligned; smaller ones keep malloc's packing.
const LARGE: usize = 4096;
const LINE: usize = 64;

/// The layout actually requested from the system allocator for `layout`.
fn line_aligned(layout: Layout) -> Layout {
    if layout.size() < LARGE {
        return layout;
    }
    // An alignment of 64 or more is a power of two with a size that is no larger.
    Layout::from_size_align(layout.size(), layout.align().max(LINE))
        .expect("a valid layout stays valid with 64-byte alignment")
}

// SAFETY: every block comes from `System` and goes back to it with the layout
// it was allocated with (`line_aligned` is a pure function of the caller's layout).
unsafe impl GlobalAlloc for LineAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(line_aligned(layout))
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(line_aligned(layout))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, line_aligned(layout))
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = line_aligned(layout);
        let new = line_aligned(Layout::from_size_align_unchecked(new_size, layout.align()));
        if old.align() == new.align() {
            return System.realloc(ptr, old, new_size);
        }
        // Crossing the 4 KiB line changes the alignment, which `System.realloc` keeps.
        let moved = System.alloc(new);
        if !moved.is_null() {
            std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
            System.dealloc(ptr, old);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_start_on_a_line_and_keep_their_contents_across_realloc() {
        // SAFETY: each block is used within its size and freed once, with its current layout.
        unsafe {
            let small = Layout::from_size_align(64, 4).unwrap();
            let p = LineAligned.alloc(small);
            for i in 0..64 {
                *p.add(i) = i as u8;
            }
            // Small to large: the block moves onto a line.
            let p = LineAligned.realloc(p, small, 3 * LARGE);
            assert_eq!(p as usize % LINE, 0);
            assert!((0..64).all(|i| *p.add(i) == i as u8));
            let large = Layout::from_size_align(3 * LARGE, 4).unwrap();
            // Large to large keeps the line; large to small keeps the contents.
            let p = LineAligned.realloc(p, large, 5 * LARGE);
            assert_eq!(p as usize % LINE, 0);
            assert!((0..64).all(|i| *p.add(i) == i as u8));
            let p = LineAligned.realloc(p, Layout::from_size_align(5 * LARGE, 4).unwrap(), 32);
            assert!((0..32).all(|i| *p.add(i) == i as u8));
            LineAligned.dealloc(p, Layout::from_size_align(32, 4).unwrap());
            let z = LineAligned.alloc_zeroed(large);
            assert_eq!(z as usize % LINE, 0);
            assert!((0..3 * LARGE).all(|i| *z.add(i) == 0));
            LineAligned.dealloc(z, large);
        }
    }
}
