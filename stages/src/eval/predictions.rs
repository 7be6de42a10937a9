//! The per-example prediction table (`predictions.csv`, `dev_predictions.csv`,
//! `misclassified.csv`): one row per example in split order, written by `evaluate`
//! and read by `slice` and later stages.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::scores::Scored;
use crate::data::examples::Example;
use crate::StageError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub idx: u64,
    pub text: String,
    pub label: u8,
    pub pred: u8,
    pub p_negative: f64,
    pub p_positive: f64,
    /// Probability of the predicted class.
    pub confidence: f64,
    pub correct: bool,
}

impl Prediction {
    pub fn new(example: &Example, scored: &Scored) -> Prediction {
        let [p_negative, p_positive] = scored.probs();
        Prediction {
            idx: example.idx,
            text: example.text.clone(),
            label: scored.label,
            pred: scored.pred(),
            p_negative,
            p_positive,
            confidence: scored.confidence(),
            correct: scored.correct(),
        }
    }
}

pub fn write_csv(path: &Path, rows: &[Prediction]) -> Result<(), StageError> {
    let mut w = csv::Writer::from_path(path).map_err(|e| csv_error(path, e))?;
    for row in rows {
        w.serialize(row).map_err(|e| csv_error(path, e))?;
    }
    w.flush().map_err(StageError::io(path))
}

pub fn read_csv(path: &Path) -> Result<Vec<Prediction>, StageError> {
    let mut r = csv::Reader::from_path(path).map_err(|e| csv_error(path, e))?;
    r.deserialize().collect::<Result<Vec<Prediction>, _>>().map_err(|e| csv_error(path, e))
}

fn csv_error(path: &Path, e: csv::Error) -> StageError {
    StageError::Input(format!("{}: {e}", path.display()))
}
