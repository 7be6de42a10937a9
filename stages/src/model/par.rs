//! Row-parallel loops for the custom ops, on rayon's pool (the one gemm's
//! matmuls use). candle's own elementwise pool is off (see threads.rs), so
//! without this everything but the matmuls ran on one core.
//!
//! Work is only ever split between rows (or between independent elements),
//! never inside a sum, so the results are bit-identical for any thread count.

use rayon::prelude::*;

/// Below this many values a loop runs on the calling thread: handing it to the
/// pool costs more than it saves.
const MIN_PARALLEL: usize = 1 << 14;

/// Values per task: the slice cut into about four pieces per pool thread (so a thread slowed by other work does not hold up the rest), in whole
/// rows of `row` values.
fn chunk_len(len: usize, row: usize) -> usize {
    let rows = len.div_ceil(row.max(1));
    rows.div_ceil(4 * rayon::current_num_threads().max(1)).max(1) * row.max(1)
}

/// A vector of `len` values whose rows of `row` values are written by
/// `fill(first_row, rows)`; each call gets whole rows and must write every value
/// of them (they start uninitialised: a full-size memset per op was 5% of training).
pub fn fill_rows(len: usize, row: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    // SAFETY: every f32 bit pattern is valid, and `fill` writes each value
    // before anything reads it (the contract above).
    unsafe { out.set_len(len) };
    for_rows_mut(&mut out, row, fill);
    out
}

/// Calls `f(first_row, rows)` on whole rows of `data`, in parallel when it is large.
pub fn for_rows_mut(data: &mut [f32], row: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if data.len() < MIN_PARALLEL {
        f(0, data);
        return;
    }
    let chunk = chunk_len(data.len(), row);
    data.par_chunks_mut(chunk).enumerate().for_each(|(i, part)| f(i * chunk / row.max(1), part));
}

/// Runs `f` on matching pieces of four equally long slices (AdamW's parameter,
/// gradient and moments), in parallel when they are large.
pub fn zip4_mut(a: &mut [f32], b: &[f32], c: &mut [f32], d: &mut [f32], f: impl Fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) + Sync) {
    if a.len() < MIN_PARALLEL {
        f(a, b, c, d);
        return;
    }
    let chunk = chunk_len(a.len(), 64);
    a.par_chunks_mut(chunk)
        .zip(b.par_chunks(chunk))
        .zip(c.par_chunks_mut(chunk))
        .zip(d.par_chunks_mut(chunk))
        .for_each(|(((a, b), c), d)| f(a, b, c, d));
}
