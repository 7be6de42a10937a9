//! The f32 data of a contiguous CPU tensor, as the custom ops' loops read it.

use candle_core::{CpuStorage, Layout, Storage};

/// `storage` viewed through `layout` as one slice; `op` and `what` name the
/// operation and operand in the error.
pub fn f32_slice<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str, what: &str) -> candle_core::Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(data), Some((start, end))) => Ok(&data[start..end]),
        (CpuStorage::F32(_), None) => candle_core::bail!("{op}: {what} must be contiguous"),
        _ => candle_core::bail!("{op}: {what} must be f32"),
    }
}

/// The length of the last dimension, which the row-wise ops work along.
pub fn row_len(layout: &Layout, op: &str) -> candle_core::Result<usize> {
    match layout.dims().last() {
        Some(&d) if d > 0 => Ok(d),
        _ => candle_core::bail!("{op}: empty last dimension in {:?}", layout.dims()),
    }
}

/// The f32 values of a tensor's storage (backward passes get tensors, not
/// storages): `storage_f32(&t.storage_and_layout().0, layout, ..)` on a contiguous `t`.
pub fn storage_f32<'a>(storage: &'a Storage, layout: &Layout, op: &str, what: &str) -> candle_core::Result<&'a [f32]> {
    match storage {
        Storage::Cpu(cpu) => f32_slice(cpu, layout, op, what),
        _ => candle_core::bail!("{op}: {what} must be on the CPU"),
    }
}
