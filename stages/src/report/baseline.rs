//! Published numbers a report puts beside its own: by default those of the seed
//! report (distilbert-base-uncased fine-tuned on SST-2, scored on the 872-sentence
//! validation split, trained on a GPU), which gives point estimates only.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Baseline {
    /// Column heading of these numbers in the report's summary.
    pub label: String,
    pub accuracy: Option<f64>,
    pub f1: Option<f64>,
    pub brier: Option<f64>,
    pub ece: Option<f64>,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            label: "seed report (distilbert-base-uncased)".into(),
            accuracy: Some(0.9014),
            f1: Some(0.9042),
            brier: Some(0.1543),
            ece: Some(0.0594),
        }
    }
}
