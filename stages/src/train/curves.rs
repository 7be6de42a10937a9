//! training_loss.png and training_acc.png from the history.

use std::path::Path;

use super::history::{smoothed, History};
use crate::plot::{line_chart, LineChart, Series};
use crate::StageError;

/// Per-batch losses are noisy, the trend is what the curve should show: each point is
/// averaged with a 25th of the run's steps either side of it, at most this many.
const MAX_SMOOTHING: usize = 50;

/// The accuracy axis spans at least 2 pp: a 0.6 pp change should look small.
const MIN_ACCURACY_SPAN: f64 = 0.02;

/// The epoch whose weights were kept (best.safetensors), when one was evaluated.
fn best_marker(history: &History) -> Option<(String, f64)> {
    let best = history.best()?;
    Some((format!("epoch kept (best {})", history.select_by.replace('_', " ")), best.epoch as f64))
}

/// Per-step smoothed training loss, each epoch's mean training loss and its dev loss,
/// against epochs: step k of epoch e is at x = e - 1 + k / steps_in_epoch, the dev loss
/// (measured after the epoch) at x = e, and the epoch's mean at x = e - 0.5, the middle
/// of the steps it averages (at x = e it would sit above the curve it summarises).
pub fn loss_curve(path: &Path, history: &History) -> Result<(), StageError> {
    let losses: Vec<f64> = history.steps.iter().map(|s| s.loss).collect();
    let xs = step_positions(history);
    let half = (losses.len() / 25).clamp(1, MAX_SMOOTHING);
    let train = smoothed(&losses, half).into_iter().map(|(i, loss)| (xs[i], loss)).collect();
    let dev = history.epochs.iter().map(|e| (e.epoch as f64, e.dev_loss)).collect();
    let epoch_train = history.epochs.iter().map(|e| (e.epoch as f64 - 0.5, e.train_loss)).collect();
    line_chart(
        path,
        &LineChart {
            title: "Training and dev loss".into(),
            x_label: "epoch".into(),
            y_label: "cross-entropy loss".into(),
            series: vec![
                Series { name: "train (per step, centred mean)".into(), points: train },
                Series { name: "train (epoch mean, mid-epoch)".into(), points: epoch_train },
                Series { name: "dev".into(), points: dev },
            ],
            min_y_span: 0.0,
            marker: best_marker(history),
            whole_x: true,
        },
    )
}

/// Per-epoch dev accuracy.
pub fn accuracy_curve(path: &Path, history: &History) -> Result<(), StageError> {
    let dev = history.epochs.iter().map(|e| (e.epoch as f64, e.dev_accuracy)).collect();
    line_chart(
        path,
        &LineChart {
            title: "Dev accuracy".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: vec![Series { name: "dev".into(), points: dev }],
            min_y_span: MIN_ACCURACY_SPAN,
            marker: best_marker(history),
            whole_x: true,
        },
    )
}

/// Fractional epoch of each step, so per-step and per-epoch series share the x axis.
fn step_positions(history: &History) -> Vec<f64> {
    let mut per_epoch = std::collections::BTreeMap::<usize, usize>::new();
    for s in &history.steps {
        *per_epoch.entry(s.epoch).or_default() += 1;
    }
    let mut seen = std::collections::BTreeMap::<usize, usize>::new();
    history
        .steps
        .iter()
        .map(|s| {
            let k = seen.entry(s.epoch).or_default();
            *k += 1;
            (s.epoch - 1) as f64 + *k as f64 / per_epoch[&s.epoch] as f64
        })
        .collect()
}
