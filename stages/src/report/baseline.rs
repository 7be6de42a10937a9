//! Published numbers a report puts beside its own: by default those of the seed
//! report (distilbert-base-uncased fine-tuned on SST-2, scored on the 872-sentence
//! validation split, trained on a GPU), which gives point estimates only.
//!
//! Brier scores compare only on one scale: ours is the binary one, mean (p_positive - y)².
//! The seed report's 0.1543 cannot be that (with its accuracy 0.9014 and ECE 0.0594 the
//! binary Brier is at most about 0.11): it summed both classes' squared errors, which
//! is twice the binary form. The default therefore carries half of it.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};

use crate::numfmt::sig;

/// A given `compare_with` has its own label, and a number it leaves out is unknown
/// (shown as —): filling it in from the default would put the seed report's numbers
/// under someone else's label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Column heading of these numbers in the report's summary.
    pub label: String,
    pub accuracy: Option<f64>,
    pub f1: Option<f64>,
    /// Binary Brier, mean (p_positive - y)², as the calibrate stage's.
    pub brier: Option<f64>,
    pub ece: Option<f64>,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            label: "seed report (distilbert-base-uncased)".into(),
            accuracy: Some(0.9014),
            f1: Some(0.9042),
            brier: Some(SEED_REPORT_BRIER_TWO_CLASS / 2.0),
            ece: Some(0.0594),
        }
    }
}

/// The seed report's Brier as published: both classes' squared errors summed.
const SEED_REPORT_BRIER_TWO_CLASS: f64 = 0.1543;

impl Baseline {
    /// What a reader must know to compare its Brier with ours: for the default, that it
    /// was halved from the published two-class figure.
    pub fn brier_note(&self) -> Option<String> {
        (*self == Baseline::default()).then(|| {
            format!(
                "The seed report's Brier {} sums both classes' squared errors; halved to this binary scale, \
                 mean (p_positive − y)², it is {}.",
                sig(SEED_REPORT_BRIER_TWO_CLASS),
                sig(SEED_REPORT_BRIER_TWO_CLASS / 2.0)
            )
        })
    }
}

/// `compare_with` as given, its errors prefixed with the mapping's shape. The prefix also
/// keeps serde's "missing field `label`" from being taken for a top-level key of the
/// stage (`params::parse` names the key from that message).
pub fn given<'de, D: Deserializer<'de>>(d: D) -> Result<Baseline, D::Error> {
    Baseline::deserialize(d).map_err(|e| D::Error::custom(format!("expected {{label, accuracy, f1, brier, ece}}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_left_out_are_unknown_and_the_label_is_required() {
        let b: Baseline = serde_json::from_value(json!({"label": "x", "accuracy": 0.9})).unwrap();
        assert_eq!(b, Baseline { label: "x".into(), accuracy: Some(0.9), f1: None, brier: None, ece: None });
        let err = given(json!({"accuracy": 0.9})).unwrap_err().to_string();
        assert_eq!(err, "expected {label, accuracy, f1, brier, ece}: missing field `label`");
    }

    #[test]
    fn the_default_brier_is_the_seed_reports_on_the_binary_scale() {
        let seed = Baseline::default();
        assert_eq!(sig(seed.brier.unwrap()), "0.07715");
        let note = seed.brier_note().unwrap();
        assert!(note.contains("0.1543 sums both classes' squared errors") && note.contains("0.07715"), "{note}");
        // Someone else's numbers are theirs as given: no note.
        let given = Baseline { label: "x".into(), accuracy: None, f1: None, brier: Some(0.1), ece: None };
        assert_eq!(given.brier_note(), None);
    }
}
