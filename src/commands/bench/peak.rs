//! `pipe bench peak`: the rate of the matrix product a dense layer runs, alone, at
//! the shape the benchmarks measure PyTorch's peak with (a DistilBERT-base feed-forward
//! layer on 1152 token rows, 768 -> 3072). It is the reference the share-of-peak
//! figures divide by (`--peak-gflops`), measured rather than computed from clock and
//! FMA units, since the clock, the vector width the level allows and the neighbours'
//! load all move it.

use std::hint::black_box;
use std::time::Instant;

use pipe_stages::model::Precision;
use pipe_stages::numfmt::count;
use pipe_stages::train::bench::{median, threads};
use serde::Serialize;

/// Rows (tokens), input width and output width of the timed product.
pub const SHAPE: (usize, usize, usize) = (1152, 768, 3072);

/// What `pipe bench peak` measured.
#[derive(Debug, Serialize)]
pub struct PeakReport {
    pub mode: &'static str,
    pub precision: Precision,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub threads: usize,
    /// Products timed back to back in each repeat.
    pub products: usize,
    pub repeats: usize,
    pub gflop_per_product: f64,
    /// Wall seconds of each repeat.
    pub repeat_seconds: Vec<f64>,
    /// From the median repeat and from the fastest one.
    pub gflops: f64,
    pub best_gflops: f64,
}

impl PeakReport {
    pub fn summary(&self) -> String {
        format!(
            "Peak {precision} dense product {m}x{k} times ({n}x{k})^T: {gf:.1} GFLOP/s median, {best:.1} best\n\
             {p} of {per:.2} GFLOP per repeat, {threads}, {r}: {secs:?} s",
            precision = self.precision.name(),
            m = self.m,
            k = self.k,
            n = self.n,
            gf = self.gflops,
            best = self.best_gflops,
            p = count(self.products, "product", "products"),
            per = self.gflop_per_product,
            threads = count(self.threads, "thread", "threads"),
            r = count(self.repeats, "repeat", "repeats"),
            secs = self.repeat_seconds,
        )
    }
}

/// Runs `warmup` untimed products, then `repeats` times `products` timed ones.
pub fn measure(precision: Precision, products: usize, warmup: usize, repeats: usize) -> PeakReport {
    let (m, k, n) = SHAPE;
    // Fixed values in [-0.5, 0.5), the same as torch_peak.py's: no denormals.
    let fill =
        |len: usize, step: usize| -> Vec<f32> { (0..len).map(|i| ((i * step) % 1000) as f32 / 1000.0 - 0.5).collect() };
    let x = fill(m * k, 7919);
    let w = fill(n * k, 104_729);
    let run = || {
        black_box(pipe_stages::dense_product(precision, m, n, k, black_box(&x), black_box(&w)));
    };
    for _ in 0..warmup {
        run();
    }
    let repeat_seconds: Vec<f64> = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..products {
                run();
            }
            t.elapsed().as_secs_f64()
        })
        .collect();
    let gflop_per_product = 2.0 * (m * k * n) as f64 / 1e9;
    let rate = |seconds: f64| gflop_per_product * products as f64 / seconds;
    PeakReport {
        mode: "peak",
        precision,
        m,
        k,
        n,
        threads: threads(),
        products,
        repeats,
        gflop_per_product,
        gflops: rate(median(&repeat_seconds)),
        best_gflops: rate(repeat_seconds.iter().copied().fold(f64::INFINITY, f64::min)),
        repeat_seconds,
    }
}
