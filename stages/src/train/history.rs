//! The training history (`history.json`): one record per optimiser step and per
//! epoch. Wall-clock times are kept out of it (they go to metrics.json) so the
//! artifact stays byte-identical for the same inputs and seed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StageError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based optimiser step over the whole run.
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    /// Learning rate used by this step.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps (dropout on).
    pub train_loss: f64,
    pub dev_loss: f64,
    pub dev_accuracy: f64,
    /// True when this epoch's weights became best.safetensors.
    pub best: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// `dev_loss` or `dev_accuracy`: what chose the best epoch.
    pub select_by: String,
    pub best_epoch: usize,
    /// True when training stopped before `epochs` because of `patience`.
    pub stopped_early: bool,
    pub epochs: Vec<EpochRecord>,
    pub steps: Vec<StepRecord>,
}

impl History {
    pub fn write(&self, path: &Path) -> Result<(), StageError> {
        let json =
            serde_json::to_string_pretty(self).map_err(|e| StageError::Failed(format!("{}: {e}", path.display())))?;
        std::fs::write(path, json + "\n").map_err(StageError::io(path))
    }

    pub fn read(path: &Path) -> Result<History, StageError> {
        let text = std::fs::read_to_string(path).map_err(StageError::io(path))?;
        serde_json::from_str(&text).map_err(|e| StageError::Input(format!("{}: {e}", path.display())))
    }

    pub fn best(&self) -> Option<&EpochRecord> {
        self.epochs.iter().find(|e| e.epoch == self.best_epoch)
    }
}

/// Exponential moving average with bias correction (as TensorBoard smooths), so the
/// first points are not pulled towards zero.
pub fn smoothed(values: &[f64], weight: f64) -> Vec<f64> {
    let mut avg = 0.0;
    let mut norm = 0.0;
    values
        .iter()
        .map(|&v| {
            avg = weight * avg + (1.0 - weight) * v;
            norm = weight * norm + (1.0 - weight);
            avg / norm
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_starts_at_the_first_value_and_follows_a_constant() {
        assert_eq!(smoothed(&[], 0.9), Vec::<f64>::new());
        let s = smoothed(&[2.0, 2.0, 2.0], 0.9);
        assert!(s.iter().all(|v| (v - 2.0).abs() < 1e-12), "{s:?}");
        let s = smoothed(&[1.0, 0.0], 0.5);
        assert!((s[0] - 1.0).abs() < 1e-12 && (s[1] - 1.0 / 3.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn round_trips_through_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.json");
        let h = History {
            select_by: "dev_loss".into(),
            best_epoch: 1,
            stopped_early: false,
            epochs: vec![EpochRecord { epoch: 1, train_loss: 0.5, dev_loss: 0.4, dev_accuracy: 0.8, best: true }],
            steps: vec![StepRecord { step: 1, epoch: 1, loss: 0.69, lr: 1e-5, grad_norm: 0.3 }],
        };
        h.write(&path).unwrap();
        assert_eq!(History::read(&path).unwrap(), h);
        assert_eq!(h.best().unwrap().dev_accuracy, 0.8);
    }
}
