//! The ablation chart: each variant's test accuracy difference from the
//! reference in pp with its 95% paired-bootstrap interval as an error bar, and a
//! dashed line at one test example, so that a reader sees at a glance which gaps
//! are a sentence or two and which intervals hold zero. With a seed axis, one bar
//! per configuration: the mean over seeds, the interval of the seed-averaged
//! difference over test sentences, and beside it in blue the interval over seeds,
//! which the verdict needs too: a gap clear of zero over sentences may not be over seeds.

use std::path::Path;

use super::ablation::{matrix_text, Summary};
use crate::numfmt::pp;
use crate::plot::{bar_chart, Bar, BarChart, BarColours};
use crate::stats::Interval;
use crate::StageError;

pub fn draw(summary: &Summary, path: &Path) -> Result<(), StageError> {
    let bar = |label: String, reference: bool, tied: bool, delta: f64, cis: [Option<Interval>; 2]| {
        let label = if reference { format!("{label} (ref)") } else { label };
        let tie = if tied { "  tie" } else { "" };
        let [interval, second_interval] = cis.map(|ci| ci.map(|[lo, hi]| (lo, hi)));
        // Short, so it fits beside the longest bar; accuracies and interval ends are in the table.
        let text = format!("{} pp{tie}", pp(delta));
        Bar { label, value: delta, text, interval, second_interval }
    };
    let (bars, title) = if summary.has_seeds() {
        let bars = summary
            .aggregates
            .iter()
            .map(|a| {
                let cis = [a.delta_ci_pp, a.seed_ci_pp];
                bar(matrix_text(&a.matrix), a.reference, false, a.delta_accuracy_pp.mean, cis)
            })
            .collect();
        let seeds = summary.aggregates.iter().map(|a| a.seeds.len()).max().unwrap_or(0);
        (bars, format!("Test accuracy against the reference, mean of {seeds} seeds (n = {})", summary.n))
    } else {
        let bars = summary
            .rows
            .iter()
            .map(|r| {
                let label = if r.matrix.is_empty() { r.instance.clone() } else { matrix_text(&r.matrix) };
                bar(label, r.reference, r.tied, r.delta_accuracy_pp, [r.delta_ci_pp, None])
            })
            .collect();
        (bars, format!("Test accuracy against the reference (n = {})", summary.n))
    };
    let value_label = if summary.has_seeds() {
        "Δ accuracy (percentage points), 95% intervals: over test sentences (black), over seeds (blue)"
    } else {
        "Δ accuracy (percentage points), 95% paired-bootstrap interval"
    };
    bar_chart(
        path,
        &BarChart {
            title,
            value_label: value_label.into(),
            bars,
            colours: BarColours::BySign,
            horizontal: true,
            reference: Some(("one test example (pp)".into(), summary.single_example_pp)),
        },
    )
}

/// The report's caption under the chart.
pub fn caption(summary: Option<&Summary>) -> &'static str {
    match summary {
        Some(s) if s.has_seeds() => {
            "Test accuracy against the reference: the mean over seeds, with 95% intervals over test sentences \
             (paired bootstrap, black) and over seeds (t-interval of the per-seed differences, blue)"
        }
        _ => "Test accuracy against the reference, with 95% paired-bootstrap intervals",
    }
}
