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
        crate::json::write(path, self)
    }

    pub fn read(path: &Path) -> Result<History, StageError> {
        crate::json::read(path)
    }

    pub fn best(&self) -> Option<&EpochRecord> {
        self.epochs.iter().find(|e| e.epoch == self.best_epoch)
    }
}

/// Centred moving average: the mean of each value with the `half` values either side of
/// it, for the values that have that many on both sides (the first and last `half` get
/// no point of their own; `half` shrinks to fit a short series). Centred, the curve lags
/// nothing: a trailing average of a falling loss sits above it, by up to an epoch's worth
/// when epochs are short. Returns each mean with its value's index.
pub fn smoothed(values: &[f64], half: usize) -> Vec<(usize, f64)> {
    let half = half.min(values.len().saturating_sub(1) / 2);
    let mut prefix = Vec::with_capacity(values.len() + 1);
    prefix.push(0.0);
    for v in values {
        prefix.push(prefix[prefix.len() - 1] + v);
    }
    (half..values.len().saturating_sub(half))
        .map(|i| (i, (prefix[i + half + 1] - prefix[i - half]) / (2 * half + 1) as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_centred_and_leaves_out_the_ends() {
        assert_eq!(smoothed(&[], 2), vec![]);
        assert_eq!(smoothed(&[2.0, 2.0, 2.0], 5), vec![(1, 2.0)]);
        // A straight line stays where it is: no lag.
        assert_eq!(smoothed(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 2), vec![(2, 2.0), (3, 3.0)]);
        // Means of [1, 0, 4, 2, 8], [0, 4, 2, 8, 6], [4, 2, 8, 6, 3], [2, 8, 6, 3, 9].
        let s = smoothed(&[1.0, 0.0, 4.0, 2.0, 8.0, 6.0, 3.0, 9.0], 2);
        assert_eq!(s, vec![(2, 3.0), (3, 4.0), (4, 23.0 / 5.0), (5, 28.0 / 5.0)]);
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
