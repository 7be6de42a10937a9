//! Per-token bar charts: attention rollout and integrated-gradients attributions.
//! Bars run horizontally, one token per row in sentence order, so long sentences
//! grow the figure downwards instead of crowding their labels.

use std::path::Path;

use super::integrated_gradients::Attribution;
use crate::model::Pooling;
use crate::plot::{bar_chart, unsigned_zero, Bar, BarChart, BarColours};
use crate::StageError;

/// One bar per token, labelled `3 movie` (the position keeps repeated tokens apart),
/// its value written in the one format [`ValueFormat::of`] picks for all of them.
fn bars(tokens: &[String], scores: &[f32]) -> Vec<Bar> {
    let format = ValueFormat::of(scores);
    tokens
        .iter()
        .zip(scores)
        .enumerate()
        .map(|(i, (t, &v))| Bar {
            label: format!("{i} {t}"),
            value: f64::from(v),
            text: format.text(v),
            interval: None,
            second_interval: None,
        })
        .collect()
}

/// How one figure writes its values: never "-3.69e-4" next to "0.274".
#[derive(Clone, Copy)]
enum ValueFormat {
    /// Three decimals: the largest value is at least 0.001.
    Fixed,
    /// Three significant digits: every value would print as 0.000 (an untrained
    /// model's attributions are ~1e-7).
    Scientific,
}

impl ValueFormat {
    fn of(values: &[f32]) -> ValueFormat {
        if values.iter().any(|v| v.abs() >= 1e-3) {
            ValueFormat::Fixed
        } else {
            ValueFormat::Scientific
        }
    }

    fn text(self, v: f32) -> String {
        match self {
            ValueFormat::Fixed => unsigned_zero(format!("{v:.3}")),
            ValueFormat::Scientific => format!("{v:.2e}"),
        }
    }
}

pub fn rollout_figure(
    path: &Path,
    tokens: &[String],
    scores: &[f32],
    pooling: Pooling,
    caption: &str,
) -> Result<(), StageError> {
    let from = match pooling {
        Pooling::Cls => "[CLS]",
        Pooling::Mean => "mean of positions",
    };
    bar_chart(
        path,
        &BarChart {
            title: format!("{caption} · attention rollout"),
            value_label: format!("attention rollout from {from}: share of each input token"),
            bars: bars(tokens, scores),
            colours: BarColours::Single,
            horizontal: true,
            reference: None,
        },
    )
}

pub fn ig_figure(
    path: &Path,
    tokens: &[String],
    ig: &Attribution,
    class: &str,
    caption: &str,
) -> Result<(), StageError> {
    let total: f64 = ig.scores.iter().map(|&s| f64::from(s)).sum();
    bar_chart(
        path,
        &BarChart {
            title: format!("{caption} · integrated gradients"),
            value_label: format!(
                "toward P({class}), green raises it, red lowers it: sum {}, P(x) - P(baseline) = {:.4} - {:.4}, gap {:.1e} ({:.2}%)",
                ValueFormat::of(&ig.scores).text(total as f32),
                ig.f_input,
                ig.f_baseline,
                ig.completeness_gap(),
                100.0 * ig.relative_gap()
            ),
            bars: bars(tokens, &ig.scores),
            colours: BarColours::BySign,
            horizontal: true,
            reference: None,
        },
    )
}
