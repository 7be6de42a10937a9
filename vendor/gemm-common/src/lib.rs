#![cfg_attr(not(feature = "std"), no_std)]

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

#[cfg(feature = "wasm-simd128-enable")]
pub const DEFAULT_WASM_SIMD128: bool = true;

#[cfg(not(feature = "wasm-simd128-enable"))]
pub const DEFAULT_WASM_SIMD128: bool = false;

static WASM_SIMD128: AtomicBool = AtomicBool::new(DEFAULT_WASM_SIMD128);

#[inline]
pub fn get_wasm_simd128() -> bool {
    WASM_SIMD128.load(Relaxed)
}
#[inline]
pub fn set_wasm_simd128(enable: bool) {
    WASM_SIMD128.store(enable, Relaxed)
}

// pipe patch: a cap on the x86 kernels, so that a program that caps its own SIMD
// level (to run as a smaller CPU would) runs its products at that level too.
/// The widest x86 kernels gemm may pick: `Scalar` (no AVX), `V3` (AVX2 and FMA)
/// or `V4` (AVX-512, the default; each only where the CPU has it).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum X86Cap {
    Scalar,
    V3,
    V4,
}

static X86_CAP: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(X86Cap::V4 as u8);
static X86_CAP_READ: AtomicBool = AtomicBool::new(false);

/// Caps the x86 kernels. Each element type picks its kernels once, at its first
/// product, so the cap must come before any product: returns false (and caps
/// only the types not yet used) when one already ran.
pub fn set_x86_cap(cap: X86Cap) -> bool {
    X86_CAP.store(cap as u8, Relaxed);
    !X86_CAP_READ.load(Relaxed)
}

/// Whether the cap lets gemm use kernels that need the x86 feature `feature`.
#[doc(hidden)]
pub fn x86_cap_allows(feature: &str) -> bool {
    X86_CAP_READ.store(true, Relaxed);
    let needs = match feature {
        "avx512f" => X86Cap::V4,
        "fma" | "avx2" | "avx" | "f16c" => X86Cap::V3,
        _ => X86Cap::Scalar,
    };
    X86_CAP.load(Relaxed) >= needs as u8
}

extern crate alloc;

pub mod cache;

pub mod gemm;
pub mod gemv;
pub mod gevv;

pub mod horizontal_microkernel;
pub mod microkernel;

pub mod pack_operands;
pub mod simd;

pub use pulp;

#[derive(Copy, Clone, Debug)]
pub enum Parallelism {
    None,
    #[cfg(feature = "rayon")]
    Rayon(usize),
}

pub struct Ptr<T: ?Sized>(pub *mut T);

impl<T: ?Sized> Clone for Ptr<T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ?Sized> Copy for Ptr<T> {}

unsafe impl<T: ?Sized> Send for Ptr<T> {}
unsafe impl<T: ?Sized> Sync for Ptr<T> {}

impl<T> Ptr<T> {
    #[inline(always)]
    pub fn wrapping_offset(self, offset: isize) -> Self {
        Ptr::<T>(self.0.wrapping_offset(offset))
    }
    #[inline(always)]
    pub fn wrapping_add(self, offset: usize) -> Self {
        Ptr::<T>(self.0.wrapping_add(offset))
    }
}

#[cfg(not(feature = "std"))]
#[macro_export]
macro_rules! feature_detected {
    ($tt: tt) => {
        cfg!(feature = $tt)
    };
}

// pipe patch: the x86 kernel choice obeys `set_x86_cap` as well as the CPU.
#[cfg(all(feature = "std", any(target_arch = "x86", target_arch = "x86_64")))]
#[macro_export]
macro_rules! feature_detected {
    ($tt: tt) => {
        ::std::arch::is_x86_feature_detected!($tt) && $crate::x86_cap_allows($tt)
    };
}
#[cfg(all(feature = "std", target_arch = "aarch64"))]
#[macro_export]
macro_rules! feature_detected {
    ($tt: tt) => {
        ::std::arch::is_aarch64_feature_detected!($tt)
    };
}
#[cfg(all(feature = "std", target_family = "wasm"))]
#[macro_export]
macro_rules! feature_detected {
    ("simd128") => {
        $crate::get_wasm_simd128()
    };
}
