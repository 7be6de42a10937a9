//! Slices of the test split: sentences with negation or contrast markers, and
//! length buckets counted in WordPiece tokens (without [CLS]/[SEP]); each slice
//! with its complement, scored against the overall accuracy.

use serde::Serialize;

use super::markers;
use super::metrics::{Confusion, Metrics};
use crate::stats::bootstrap::{mean_of, Bootstrap};
use crate::stats::Interval;
use crate::StageError;

/// Default upper bounds (inclusive) of the length buckets: <=4, 5-8, 9-16, 17-32, 33+.
pub const LENGTH_BOUNDS: &[usize] = &[4, 8, 16, 32];

/// How sentences are assigned to slices (from the stage params).
#[derive(Debug, Clone, PartialEq)]
pub struct SliceSpec {
    pub negation: Vec<String>,
    pub contrast: Vec<String>,
    /// Strictly increasing inclusive upper bounds; the last bucket is open.
    pub length_bounds: Vec<usize>,
}

/// The slices one sentence belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tags {
    pub negation: bool,
    pub contrast: bool,
    /// WordPiece tokens without [CLS]/[SEP].
    pub n_tokens: usize,
    /// Name of the length bucket (`<=4`, `5-8`, `33+`).
    pub length: String,
}

impl SliceSpec {
    /// Checks the bounds; `key` names the param in errors.
    pub fn new(
        negation: Vec<String>,
        contrast: Vec<String>,
        length_bounds: Vec<usize>,
    ) -> Result<SliceSpec, StageError> {
        if length_bounds.is_empty() {
            return Err(StageError::param("length_bounds", "needs at least one bound (e.g. [4, 8, 16, 32])"));
        }
        if length_bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(StageError::param(
                "length_bounds",
                format!("must be strictly increasing, got {length_bounds:?}"),
            ));
        }
        Ok(SliceSpec { negation, contrast, length_bounds })
    }

    pub fn bucket_names(&self) -> Vec<String> {
        let b = &self.length_bounds;
        let mut names = vec![format!("<={}", b[0])];
        for w in b.windows(2) {
            names.push(if w[0] + 1 == w[1] { w[1].to_string() } else { format!("{}-{}", w[0] + 1, w[1]) });
        }
        names.push(format!("{}+", b[b.len() - 1] + 1));
        names
    }

    fn bucket_of(&self, n_tokens: usize) -> usize {
        self.length_bounds.iter().position(|&b| n_tokens <= b).unwrap_or(self.length_bounds.len())
    }

    pub fn tags(&self, text: &str, n_tokens: usize) -> Tags {
        Tags {
            negation: markers::contains_any(text, &self.negation),
            contrast: markers::contains_any(text, &self.contrast),
            n_tokens,
            length: self.bucket_names().swap_remove(self.bucket_of(n_tokens)),
        }
    }
}

/// Number of WordPiece tokens of a tokenized row, without its [CLS] and [SEP].
pub fn content_tokens(ids: &[u32]) -> usize {
    ids.len().saturating_sub(2)
}

/// One slice's scores. Metrics are `None` (JSON null) when the slice is empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SliceRow {
    /// `negation`, `contrast` or `length`.
    pub family: String,
    /// Display name (`negation`, `no negation`, `length 5-8`, `length not 5-8`).
    pub name: String,
    /// Metric-safe name (`no_negation`, `length_5_8`, `length_le4`, `length_33plus`).
    pub key: String,
    /// True for the complement of a slice.
    pub complement: bool,
    pub n: usize,
    pub n_positive: usize,
    pub accuracy: Option<f64>,
    /// 95% bootstrap interval of the accuracy: the slice's own sentences resampled.
    pub accuracy_ci: Option<Interval>,
    pub f1: Option<f64>,
    pub macro_f1: Option<f64>,
    /// Overall accuracy minus the slice's (positive = the slice is harder).
    pub drop: Option<f64>,
    /// True labels of one class only: F1 values are conventions, not measurements.
    pub single_class: bool,
}

/// One scored sentence: true label, prediction and its tags.
pub struct Member<'a> {
    pub label: u8,
    pub pred: u8,
    pub tags: &'a Tags,
}

/// Rows for negation, contrast and every length bucket, each followed by its complement.
/// Accuracy intervals resample each slice on its own, from `seed`.
pub fn slice_rows(spec: &SliceSpec, members: &[Member<'_>], overall_accuracy: Option<f64>, seed: u64) -> Vec<SliceRow> {
    let mut rows = Vec::new();
    let mut add = |family: &str, name: String, complement: bool, inside: &dyn Fn(&Tags) -> bool| {
        let selected: Vec<&Member> = members.iter().filter(|m| inside(m.tags) != complement).collect();
        let metrics = Metrics::of(Confusion::of(selected.iter().map(|m| (m.label, m.pred))));
        let key = metric_key(&name);
        let correct: Vec<bool> = selected.iter().map(|m| m.label == m.pred).collect();
        rows.push(SliceRow {
            family: family.to_string(),
            accuracy_ci: Bootstrap::new(seed, format!("slice/{key}")).interval(&correct, &mean_of),
            key,
            name,
            complement,
            n: selected.len(),
            n_positive: selected.iter().filter(|m| m.label == 1).count(),
            accuracy: metrics.as_ref().map(|m| m.accuracy),
            f1: metrics.as_ref().map(|m| m.f1),
            macro_f1: metrics.as_ref().map(|m| m.macro_f1),
            drop: overall_accuracy.zip(metrics.as_ref()).map(|(o, m)| o - m.accuracy),
            single_class: metrics.as_ref().is_some_and(Metrics::single_class),
        });
    };
    add("negation", "negation".into(), false, &|t| t.negation);
    add("negation", "no negation".into(), true, &|t| t.negation);
    add("contrast", "contrast".into(), false, &|t| t.contrast);
    add("contrast", "no contrast".into(), true, &|t| t.contrast);
    for bucket in spec.bucket_names() {
        let inside = |t: &Tags| t.length == bucket;
        add("length", format!("length {bucket}"), false, &inside);
        add("length", format!("length not {bucket}"), true, &inside);
    }
    rows
}

/// `length <=4` -> `length_le4`, `length 33+` -> `length_33plus`, `no negation` -> `no_negation`.
fn metric_key(name: &str) -> String {
    let spelled = name.replace("<=", "le").replace('+', "plus");
    let mut key = String::new();
    for c in spelled.chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c.to_ascii_lowercase());
        } else if !key.ends_with('_') {
            key.push('_');
        }
    }
    key.trim_matches('_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SliceSpec {
        SliceSpec::new(markers::owned(markers::NEGATION), markers::owned(markers::CONTRAST), LENGTH_BOUNDS.to_vec())
            .unwrap()
    }

    #[test]
    fn buckets_names_and_keys() {
        let s = spec();
        assert_eq!(s.bucket_names(), ["<=4", "5-8", "9-16", "17-32", "33+"]);
        assert_eq!([0, 4, 5, 8, 9, 32, 33, 200].map(|n| s.bucket_of(n)), [0, 0, 1, 1, 2, 3, 4, 4]);
        assert_eq!(metric_key("length <=4"), "length_le4");
        assert_eq!(metric_key("length not 33+"), "length_not_33plus");
        assert_eq!(metric_key("length 5-8"), "length_5_8");
        assert!(SliceSpec::new(vec![], vec![], vec![8, 4]).is_err());
        assert!(SliceSpec::new(vec![], vec![], vec![]).is_err());
        assert_eq!(SliceSpec::new(vec![], vec![], vec![1, 2]).unwrap().bucket_names(), ["<=1", "2", "3+"]);
        assert_eq!(content_tokens(&[101, 7, 8, 102]), 2);
    }
}
