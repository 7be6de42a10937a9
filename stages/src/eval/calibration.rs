//! Calibration metrics of binary classifiers.
//!
//! Definitions (kept fixed so numbers compare across runs):
//! - Brier score: mean over examples of `(p_positive - y)^2`, y in {0, 1} (the
//!   binary form, as in scikit-learn's `brier_score_loss`; half of the two-class sum).
//! - ECE: `sum_b (n_b / N) |accuracy_b - confidence_b|` over equal-width bins of the
//!   confidence `max(p_negative, p_positive)`; bin b holds `(b/B, (b+1)/B]` (bin 0
//!   also holds 0), as in Guo et al. (2017). Empty bins contribute nothing.
//! - MCE: the largest `|accuracy_b - confidence_b|` over non-empty bins.
//! - NLL: mean of `-ln p(true label)`, computed from logits with a stable
//!   log-softmax so probabilities that round to exactly 0 or 1 stay finite.

use serde::Serialize;

use super::scores::Scored;

/// One confidence bin. `accuracy` and `confidence` are `None` (JSON null) when empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub accuracy: Option<f64>,
    pub confidence: Option<f64>,
}

/// Every calibration metric of one set of predictions. `None` only when there are no examples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub n: usize,
    pub brier: Option<f64>,
    pub ece: Option<f64>,
    pub mce: Option<f64>,
    pub nll: Option<f64>,
    pub bins: Vec<Bin>,
}

/// Mean of `(p_positive - y)^2`.
pub fn brier(scored: &[Scored]) -> Option<f64> {
    mean(scored.iter().map(|s| (s.p_positive() - s.label as f64).powi(2)))
}

/// Index of the bin `(b/B, (b+1)/B]` holding confidence `c` (0 goes to bin 0).
fn bin_of(c: f64, bins: usize) -> usize {
    ((c * bins as f64).ceil() as usize).saturating_sub(1).min(bins - 1)
}

/// Equal-width confidence bins over [0, 1]; `bins` must be at least 1.
pub fn reliability_bins(scored: &[Scored], bins: usize) -> Vec<Bin> {
    let bins = bins.max(1);
    let mut count = vec![0usize; bins];
    let mut correct = vec![0usize; bins];
    let mut confidence = vec![0f64; bins];
    for s in scored {
        let b = bin_of(s.confidence(), bins);
        count[b] += 1;
        correct[b] += usize::from(s.correct());
        confidence[b] += s.confidence();
    }
    (0..bins)
        .map(|b| Bin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            count: count[b],
            accuracy: (count[b] > 0).then(|| correct[b] as f64 / count[b] as f64),
            confidence: (count[b] > 0).then(|| confidence[b] / count[b] as f64),
        })
        .collect()
}

fn gaps(bins: &[Bin]) -> impl Iterator<Item = (usize, f64)> + '_ {
    bins.iter().filter_map(|b| Some((b.count, (b.accuracy? - b.confidence?).abs())))
}

pub fn ece(bins: &[Bin]) -> Option<f64> {
    let n: usize = bins.iter().map(|b| b.count).sum();
    (n > 0).then(|| gaps(bins).map(|(count, gap)| count as f64 * gap).sum::<f64>() / n as f64)
}

pub fn mce(bins: &[Bin]) -> Option<f64> {
    gaps(bins).map(|(_, gap)| gap).reduce(f64::max)
}

/// Mean negative log-likelihood of the true labels.
pub fn nll(scored: &[Scored]) -> Option<f64> {
    mean(scored.iter().map(|s| -s.log_p_true()))
}

pub fn calibration(scored: &[Scored], bins: usize) -> Calibration {
    let table = reliability_bins(scored, bins);
    Calibration {
        n: scored.len(),
        brier: brier(scored),
        ece: ece(&table),
        mce: mce(&table),
        nll: nll(scored),
        bins: table,
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}
