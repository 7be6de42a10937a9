//! The values of a contiguous CPU tensor, as the custom ops' loops read them.

use candle_core::{CpuStorage, Layout, Storage, WithDType};

/// `storage` viewed through `layout` as one slice of `T`; `op` and `what` name
/// the operation and operand in the error.
pub fn cpu_slice<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
    what: &str,
) -> candle_core::Result<&'a [T]> {
    let Ok(data) = storage.as_slice::<T>() else { candle_core::bail!("{op}: {what} must be {}", T::DTYPE.as_str()) };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: {what} must be contiguous"),
    }
}

/// The length of the last dimension, which the row-wise ops work along.
pub fn row_len(layout: &Layout, op: &str) -> candle_core::Result<usize> {
    match layout.dims().last() {
        Some(&d) if d > 0 => Ok(d),
        _ => candle_core::bail!("{op}: empty last dimension in {:?}", layout.dims()),
    }
}

/// The values of a tensor's storage (backward passes get tensors, not
/// storages): `storage_slice(&t.storage_and_layout().0, layout, ..)` on a contiguous `t`.
pub fn storage_slice<'a, T: WithDType>(
    storage: &'a Storage,
    layout: &Layout,
    op: &str,
    what: &str,
) -> candle_core::Result<&'a [T]> {
    match storage {
        Storage::Cpu(cpu) => cpu_slice(cpu, layout, op, what),
        _ => candle_core::bail!("{op}: {what} must be on the CPU"),
    }
}
