//! Row-parallel loops for the custom ops, on rayon's pool (the one gemm's
//! matmuls use). The `pipe` binary turns candle's own elementwise pool off
//! (src/runtime.rs): these loops are what spreads the rest over the cores.
//!
//! Work is only ever split between rows (or between independent elements),
//! never inside a sum, so the results are bit-identical for any thread count.
//! Each piece runs compiled for AVX-512 where the CPU has it (`wide.rs`); a
//! closure's own loops get that only if it is `#[inline(always)]` (GELU, softmax,
//! LayerNorm, residual and dropout are; lookup and AdamW are not: they gain
//! nothing from it, see bench/README.md). `map1` and `map2` hand their closures
//! blocks of 16 values (`lanes.rs`).

use rayon::prelude::*;

use super::lanes::{map_blocks, Lanes};
use super::wide::wide;

/// `f` run on one of the pool's threads. The loops and products inside then keep
/// a share of their work on that thread; started from outside the pool, each one
/// hands all of it over and puts the caller to sleep until the pool is done, and
/// the wake-ups add up over the few hundred loops of a training step (bench/README.md).
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    // With the caller's backprop mode: the pool thread may be inside another
    // job's `no_grad` when it takes this one (work stealing), e.g. two stages at once.
    let grad = candle_core::backprop::grad_enabled();
    rayon::scope(|_| candle_core::backprop::with_grad(grad, f))
}

/// Below this many values a loop runs on the calling thread: handing it to the
/// pool costs more than it saves.
const MIN_PARALLEL: usize = 1 << 14;

/// Values per task: the slice cut into about four pieces per pool thread (so a
/// thread slowed by other work does not hold up the rest), in whole rows of `row` values.
fn chunk_len(len: usize, row: usize) -> usize {
    let rows = len.div_ceil(row.max(1));
    rows.div_ceil(4 * rayon::current_num_threads().max(1)).max(1) * row.max(1)
}

/// A vector of `len` values whose rows of `row` values are written by
/// `fill(first_row, rows)`; each call gets whole rows and must write every value
/// of them (they start uninitialised: zeroing first would write every value twice).
#[allow(clippy::uninit_vec)]
pub fn fill_rows(len: usize, row: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    // SAFETY: every f32 bit pattern is valid, and `fill` writes each value
    // before anything reads it (the contract above).
    unsafe { out.set_len(len) };
    for_rows_mut(&mut out, row, fill);
    out
}

/// `f` of each block of values of `x` (see `lanes.rs`), on all threads when `x` is large.
pub fn map1(x: &[f32], f: impl Fn(Lanes) -> Lanes + Sync) -> Vec<f32> {
    fill_rows(
        x.len(),
        1,
        #[inline(always)]
        |first, dst| {
            map_blocks(
                dst,
                [&x[first..]],
                #[inline(always)]
                |[v]| f(v),
            )
        },
    )
}

/// `f` of the blocks at the same place in the equally long `a` and `b`, on all threads when they are large.
pub fn map2(a: &[f32], b: &[f32], f: impl Fn(Lanes, Lanes) -> Lanes + Sync) -> Vec<f32> {
    // A shorter `b` would leave values unwritten.
    assert_eq!(a.len(), b.len(), "map2 over slices of different lengths");
    fill_rows(
        a.len(),
        1,
        #[inline(always)]
        |first, dst| {
            map_blocks(
                dst,
                [&a[first..], &b[first..]],
                #[inline(always)]
                |[a, b]| f(a, b),
            )
        },
    )
}

/// Calls `f(first_row, rows)` on whole rows of `data`, in parallel when it is large.
pub fn for_rows_mut(data: &mut [f32], row: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if data.len() < MIN_PARALLEL {
        wide(
            #[inline(always)]
            || f(0, data),
        );
        return;
    }
    let chunk = chunk_len(data.len(), row);
    data.par_chunks_mut(chunk).enumerate().for_each(|(i, part)| {
        wide(
            #[inline(always)]
            || f(i * chunk / row.max(1), part),
        )
    });
}

/// Runs `f(first_row, a, b, c)` on matching pieces of whole rows of `row` values
/// of three equally long slices (AdamW's parameter and moments), in parallel when
/// they are large.
pub fn zip3_rows_mut(
    a: &mut [f32],
    b: &mut [f32],
    c: &mut [f32],
    row: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32], &mut [f32]) + Sync,
) {
    assert!(a.len() == b.len() && a.len() == c.len(), "zip3_rows_mut over slices of different lengths");
    if a.len() < MIN_PARALLEL {
        wide(
            #[inline(always)]
            || f(0, a, b, c),
        );
        return;
    }
    let chunk = chunk_len(a.len(), row);
    a.par_chunks_mut(chunk).zip(b.par_chunks_mut(chunk)).zip(c.par_chunks_mut(chunk)).enumerate().for_each(
        |(i, ((a, b), c))| {
            wide(
                #[inline(always)]
                || f(i * chunk / row.max(1), a, b, c),
            )
        },
    );
}

#[cfg(test)]
mod tests {
    //! The split must not show: a large input (parallel path) gives the bits that
    //! the same op gives row by row (each row alone is below MIN_PARALLEL).

    use candle_core::{Device, Tensor};

    use super::super::gelu::gelu_erf;
    use super::super::layer_norm::layer_norm;
    use super::super::residual::residual;
    use super::super::softmax::masked_softmax;
    use super::*;

    const ROWS: usize = 300;
    const DIM: usize = 384;

    /// A deterministic [ROWS, DIM] input with values of both signs and several magnitudes.
    fn input(salt: f32) -> Tensor {
        let values: Vec<f32> =
            (0..ROWS * DIM).map(|i| (i as f32 * 0.618 + salt).sin() * (1.0 + (i % 7) as f32)).collect();
        Tensor::from_vec(values, (ROWS, DIM), &Device::Cpu).unwrap()
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
    }

    /// The bits of an op's result computed whole, and computed row by row.
    type WholeAndByRow = (Vec<u32>, Vec<u32>);

    /// `op` on the whole inputs and on each row of them alone, concatenated.
    fn whole_and_by_row(x: &Tensor, y: &Tensor, op: impl Fn(&Tensor, &Tensor) -> Tensor) -> WholeAndByRow {
        const { assert!(ROWS * DIM >= MIN_PARALLEL && DIM < MIN_PARALLEL) };
        let rows: Vec<Tensor> =
            (0..ROWS).map(|r| op(&x.narrow(0, r, 1).unwrap(), &y.narrow(0, r, 1).unwrap())).collect();
        (bits(&op(x, y)), bits(&Tensor::cat(&rows, 0).unwrap()))
    }

    #[test]
    fn row_ops_give_the_same_bits_split_or_not() {
        let x = input(0.0);
        let (w, b) = (input(1.0).get(0).unwrap(), input(2.0).get(0).unwrap());
        let y = input(3.0);
        let cases: Vec<(&str, WholeAndByRow)> = vec![
            ("softmax", whole_and_by_row(&x, &y, |t, mask| masked_softmax(t, 0.125, mask).unwrap())),
            ("gelu", whole_and_by_row(&x, &y, |t, _| gelu_erf(t).unwrap())),
            ("layer_norm", whole_and_by_row(&x, &y, |t, _| layer_norm(t, &w, &b, 1e-12).unwrap())),
            ("residual", whole_and_by_row(&x, &y, |a, b| residual(a, b).unwrap())),
        ];
        for (name, (whole, by_row)) in cases {
            assert!(whole == by_row, "{name}: the parallel split changed some values");
        }
    }

    #[test]
    fn on_pool_runs_on_a_pool_thread_and_gives_the_same_bits() {
        assert_eq!(rayon::current_thread_index(), None, "the test harness thread is outside the pool");
        let x = input(0.0);
        let (index, on) = on_pool(|| (rayon::current_thread_index(), bits(&gelu_erf(&x).unwrap())));
        assert!(index.is_some());
        assert_eq!(on, bits(&gelu_erf(&x).unwrap()));
    }

    #[test]
    fn helpers_hand_out_every_row_once_with_its_index() {
        let out = fill_rows(ROWS * DIM, DIM, |first, rows| {
            for (i, row) in rows.chunks_exact_mut(DIM).enumerate() {
                row.fill((first + i) as f32);
            }
        });
        let expected: Vec<f32> = (0..ROWS).flat_map(|r| std::iter::repeat_n(r as f32, DIM)).collect();
        assert_eq!(out, expected);

        let (n, row) = (3 * MIN_PARALLEL + 5 * DIM, DIM);
        let (mut a, mut b, mut c) = (vec![0f32; n], vec![1f32; n], vec![0f32; n]);
        zip3_rows_mut(&mut a, &mut b, &mut c, row, |first, a, b, c| {
            for (i, ((a, b), c)) in a.chunks_mut(row).zip(b.chunks_mut(row)).zip(c.chunks_mut(row)).enumerate() {
                a.fill((first + i) as f32);
                b.iter_mut().for_each(|b| *b += 1.0);
                c.fill(a.len() as f32);
            }
        });
        let expected: Vec<f32> = (0..n / row).flat_map(|r| std::iter::repeat_n(r as f32, row)).collect();
        assert_eq!(a, expected);
        assert!(b.iter().all(|&v| v == 2.0) && c.iter().all(|&v| v == row as f32));
    }

    #[test]
    fn a_job_on_the_pool_keeps_its_callers_backprop_mode() {
        use candle_core::backprop::{grad_enabled, no_grad};
        assert!(on_pool(grad_enabled));
        assert!(!no_grad(|| on_pool(grad_enabled)));
        // A job started with recording on, from a pool thread inside `no_grad`
        // (as a stolen training step would be), records.
        assert!(no_grad(|| on_pool(|| candle_core::backprop::with_grad(true, || on_pool(grad_enabled)))));
        assert!(grad_enabled(), "the mode is restored");
    }
}
