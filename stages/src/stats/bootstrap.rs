//! Bootstrap percentile intervals (Efron & Tibshirani 1993; for NLP test sets,
//! Dror et al. 2018).
//!
//! Method, fixed so that numbers compare across runs: draw `RESAMPLES` (1,000) test
//! sets of the same size as the original, with replacement, from a ChaCha stream
//! derived from the stage seed and a purpose label (so the same seed gives the same
//! resampled sets in every stage, and the intervals are reproducible bit for bit);
//! compute the statistic on each; the 95% interval is the 2.5th and 97.5th
//! percentile of those values, interpolated linearly between order statistics (as
//! numpy's default `percentile`). Resamples on which the statistic is undefined are
//! left out. A paired comparison resamples pairs, so both systems see the same set.

use rand::Rng;

use super::interval::{Interval, LEVEL};
use crate::rng;

/// Resampled test sets per interval.
const RESAMPLES: usize = 1000;

/// A statistic of one (resampled) set of items.
pub type Statistic<'a, T> = &'a dyn Fn(&[T]) -> Option<f64>;

/// Where the resamples come from: the stage seed and a purpose label.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub seed: u64,
    pub purpose: String,
    pub resamples: usize,
}

impl Bootstrap {
    pub fn new(seed: u64, purpose: impl Into<String>) -> Bootstrap {
        Bootstrap { seed, purpose: purpose.into(), resamples: RESAMPLES }
    }

    /// The 95% percentile interval of each statistic, all computed on the same
    /// resampled sets. `None` for an empty `items` or a statistic undefined on every resample.
    pub fn intervals<T: Clone, const N: usize>(
        &self,
        items: &[T],
        statistics: [Statistic<T>; N],
    ) -> [Option<Interval>; N] {
        let mut values: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(self.resamples));
        if !items.is_empty() {
            let mut rng = rng::derive(self.seed, &format!("bootstrap/{}", self.purpose));
            let mut sample: Vec<T> = items.to_vec();
            for _ in 0..self.resamples {
                for slot in sample.iter_mut() {
                    *slot = items[rng.random_range(0..items.len())].clone();
                }
                for (stat, out) in statistics.iter().zip(values.iter_mut()) {
                    out.extend(stat(&sample).filter(|v| v.is_finite()));
                }
            }
        }
        values.map(percentile_interval)
    }

    /// The interval of one statistic.
    pub fn interval<T: Clone>(&self, items: &[T], statistic: Statistic<T>) -> Option<Interval> {
        let [ci] = self.intervals(items, [statistic]);
        ci
    }
}

/// The central `LEVEL` interval of `values`.
fn percentile_interval(mut values: Vec<f64>) -> Option<Interval> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - LEVEL) / 2.0;
    Some([percentile(&values, tail), percentile(&values, 1.0 - tail)])
}

/// The `q` quantile of sorted `values`, linear between order statistics.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (below, weight) = (position.floor() as usize, position.fract());
    match sorted.get(below + 1) {
        Some(&next) => sorted[below] + weight * (next - sorted[below]),
        None => sorted[below],
    }
}

/// Mean of a set of 0/1 outcomes (accuracy of a set of correctness flags).
pub fn mean_of(flags: &[bool]) -> Option<f64> {
    (!flags.is_empty()).then(|| flags.iter().filter(|&&f| f).count() as f64 / flags.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::interval::contains;
    use rand::SeedableRng;
    use rayon::prelude::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // numpy.percentile(range(11), [2.5, 97.5]) = [0.25, 9.75]
        let [lo, hi] = percentile_interval((0..11).map(f64::from).collect()).unwrap();
        assert!((lo - 0.25).abs() < 1e-12 && (hi - 9.75).abs() < 1e-12, "{lo} {hi}");
        assert_eq!(percentile_interval(vec![3.0]), Some([3.0, 3.0]));
        assert_eq!(percentile_interval(vec![]), None);
    }

    #[test]
    fn same_seed_same_interval_and_empty_sets_have_none() {
        let flags: Vec<bool> = (0..100).map(|i| i % 3 != 0).collect();
        let a = Bootstrap::new(7, "t").interval(&flags, &mean_of);
        assert_eq!(a, Bootstrap::new(7, "t").interval(&flags, &mean_of));
        assert_ne!(a, Bootstrap::new(8, "t").interval(&flags, &mean_of));
        assert_eq!(Bootstrap::new(7, "t").interval(&[] as &[bool], &mean_of), None);
    }

    /// 1,000 simulated test sets of 872 sentences from a classifier whose true accuracy
    /// is 0.9: the 95% interval of each holds 0.9 in 93-97% of them (the binomial sd of
    /// the coverage over 1,000 sets is 0.7 pp, so this band is about 3 sd wide).
    #[test]
    fn coverage_on_simulated_test_sets() {
        let truth = 0.9;
        let covered = (0..1000u64)
            .into_par_iter()
            .filter(|&set| {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1_000_000 + set);
                let flags: Vec<bool> = (0..872).map(|_| rng.random_bool(truth)).collect();
                let ci = Bootstrap::new(set, "coverage").interval(&flags, &mean_of).unwrap();
                contains(ci, truth)
            })
            .count();
        assert!((930..=970).contains(&covered), "covered {covered} of 1000");
    }
}
