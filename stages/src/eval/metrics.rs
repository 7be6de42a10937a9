//! Classification metrics of a binary task (1 = positive).
//!
//! Conventions (those of scikit-learn with `zero_division=0`): a precision or recall
//! whose denominator is 0 is 0, and so is an F1 whose precision and recall are both
//! 0. A split holding one class therefore still has every metric defined; callers
//! warn about it (see [`Metrics::single_class`]).

use serde::Serialize;

/// Counts of a binary confusion matrix; serialised as `[[tn, fp], [fn, tp]]`
/// (rows = true label, columns = prediction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    pub tn: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tp: usize,
}

impl Confusion {
    pub fn of(pairs: impl IntoIterator<Item = (u8, u8)>) -> Confusion {
        let mut c = Confusion::default();
        for (label, pred) in pairs {
            match (label, pred) {
                (0, 0) => c.tn += 1,
                (0, _) => c.fp += 1,
                (_, 0) => c.fn_ += 1,
                _ => c.tp += 1,
            }
        }
        c
    }

    pub fn n(&self) -> usize {
        self.tn + self.fp + self.fn_ + self.tp
    }

    pub fn matrix(&self) -> [[usize; 2]; 2] {
        [[self.tn, self.fp], [self.fn_, self.tp]]
    }

    /// Scores of `class` treated as the positive one.
    pub fn class(&self, class: u8) -> ClassScores {
        let (tp, fp, fn_) = if class == 1 { (self.tp, self.fp, self.fn_) } else { (self.tn, self.fn_, self.fp) };
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        ClassScores { precision, recall, f1, support: tp + fn_ }
    }
}

impl Serialize for Confusion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.matrix().serialize(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Examples whose true label is this class.
    pub support: usize,
}

/// The headline metrics of one non-empty set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub n: usize,
    pub accuracy: f64,
    /// Of the positive class.
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Unweighted mean of the two classes' F1.
    pub macro_f1: f64,
    pub confusion: Confusion,
}

impl Metrics {
    /// `None` for an empty set: no metric is defined, and none is made up.
    pub fn of(confusion: Confusion) -> Option<Metrics> {
        let n = confusion.n();
        if n == 0 {
            return None;
        }
        let (neg, pos) = (confusion.class(0), confusion.class(1));
        Some(Metrics {
            n,
            accuracy: (confusion.tn + confusion.tp) as f64 / n as f64,
            precision: pos.precision,
            recall: pos.recall,
            f1: pos.f1,
            macro_f1: (neg.f1 + pos.f1) / 2.0,
            confusion,
        })
    }

    /// True when the true labels hold only one class (recall of the other class and
    /// hence some F1 values are 0 by convention rather than measured).
    pub fn single_class(&self) -> bool {
        self.confusion.tn + self.confusion.fp == 0 || self.confusion.fn_ + self.confusion.tp == 0
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}
