//! McNemar's exact test for two classifiers scored on the same examples.
//!
//! Only the discordant examples carry information: `b` = the first classifier right
//! and the second wrong, `c` = the reverse. Under the null hypothesis (equal
//! accuracy) each discordant example is a fair coin, so `b ~ Binomial(b + c, 1/2)`;
//! the two-sided p-value is `min(1, 2 P(X <= min(b, c)))`. Exact rather than the
//! chi-squared approximation, which is poor for the small b + c of close variants.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Examples the reference got right and the variant wrong.
    pub b: u64,
    /// Examples the reference got wrong and the variant right.
    pub c: u64,
    /// Two-sided exact p-value (1 when there is no discordant example).
    pub p_value: f64,
}

/// The test on paired correctness `(reference_correct, variant_correct)`.
pub fn mcnemar(pairs: impl IntoIterator<Item = (bool, bool)>) -> McNemar {
    let (mut b, mut c) = (0u64, 0u64);
    for (reference, variant) in pairs {
        b += u64::from(reference && !variant);
        c += u64::from(!reference && variant);
    }
    McNemar { b, c, p_value: exact_p(b, c) }
}

/// `min(1, 2 P(X <= min(b, c)))` for X ~ Binomial(b + c, 1/2), summed in log space
/// so that 0.5^n cannot underflow for large n.
fn exact_p(b: u64, c: u64) -> f64 {
    let n = b + c;
    let k = b.min(c);
    let mut ln_pmf = -(n as f64) * std::f64::consts::LN_2;
    let mut tail = 0.0;
    for i in 0..=k {
        tail += ln_pmf.exp();
        // pmf(i + 1) = pmf(i) (n - i) / (i + 1)
        ln_pmf += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook table of Wikipedia's "McNemar's test" (after Bland's Introduction to
    /// Medical Statistics): b = 6, c = 16. By hand: sum_{k<=6} C(22, k) = 1 + 22 + 231 +
    /// 1540 + 7315 + 26334 + 74613 = 110056, over 2^22 = 4194304, doubled: 0.052479.
    #[test]
    fn textbook_table() {
        let p = exact_p(6, 16);
        assert!((p - 2.0 * 110_056.0 / 4_194_304.0).abs() < 1e-12, "{p}");
        assert!((p - 0.052479).abs() < 1e-6);
        assert_eq!(exact_p(16, 6), p, "symmetric");
        assert_eq!(exact_p(0, 0), 1.0);
        assert_eq!(exact_p(5, 5), 1.0, "capped at 1");
        // b + c = 1: 2 * 1/2 = 1; b = 0, c = 10: 2 / 1024.
        assert!((exact_p(0, 10) - 2.0 / 1024.0).abs() < 1e-15);
        // Large n stays finite (0.5^2000 underflows in plain arithmetic).
        let big = exact_p(950, 1050);
        assert!(big > 0.0 && big < 0.05, "{big}");
    }

    #[test]
    fn counts_only_discordant_pairs() {
        let pairs = [(true, true), (true, false), (false, true), (false, true), (false, false)];
        let m = mcnemar(pairs);
        assert_eq!((m.b, m.c), (1, 2));
        assert_eq!(m.p_value, 1.0);
    }
}
