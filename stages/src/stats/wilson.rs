//! The Wilson score interval of a binomial proportion (Wilson 1927): the
//! proportions p whose score test against the observed k/n does not reject at
//! 95%. Unlike the normal approximation it stays inside [0, 1] and keeps its
//! coverage near 0 and 1; `evaluate` gives it beside the bootstrap interval of
//! accuracy as a closed-form cross-check.

use super::interval::{Interval, Z95};

/// 95% Wilson interval of `successes` out of `n`; `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64) -> Option<Interval> {
    if n == 0 || successes > n {
        return None;
    }
    let (k, n) = (successes as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some([(centre - half).max(0.0), (centre + half).min(1.0)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Newcombe (1998), "Two-sided confidence intervals for the single proportion",
    /// Statistics in Medicine 17, Table II, method 3 (score interval without continuity
    /// correction): 81/263 -> 0.2553-0.3662, 15/148 -> 0.0624-0.1605, 0/20 -> 0-0.1611,
    /// 1/29 -> 0.0061-0.1718.
    #[test]
    fn newcombe_worked_examples() {
        for (k, n, lo, hi) in
            [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)]
        {
            let [l, h] = wilson(k, n).unwrap();
            assert!((l - lo).abs() < 5e-5 && (h - hi).abs() < 5e-5, "{k}/{n}: [{l:.5}, {h:.5}] vs [{lo}, {hi}]");
        }
        assert_eq!(wilson(0, 0), None);
        assert_eq!(wilson(20, 20).unwrap()[1], 1.0);
    }
}
