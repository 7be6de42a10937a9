//! The ablation chart: each variant's test accuracy difference from the
//! reference in pp with its 95% paired-bootstrap interval as an error bar, and a
//! dashed line at one test example, so that a reader sees at a glance which gaps
//! are a sentence or two and which intervals hold zero. With a seed axis, one bar
//! per configuration: the mean over seeds, the interval of the seed-averaged difference.

use std::path::Path;

use super::ablation::{matrix_text, signed_pp, Summary};
use crate::plot::{bar_chart, Bar, BarChart, BarColours};
use crate::StageError;

pub fn draw(summary: &Summary, path: &Path) -> Result<(), StageError> {
    let bar = |label: String, reference: bool, tied: bool, delta: f64, ci: Option<[f64; 2]>| {
        let label = if reference { format!("{label} (ref)") } else { label };
        let tie = if tied { "  tie" } else { "" };
        // Short, so it fits beside the longest bar; accuracies and interval ends are in the table.
        Bar {
            label,
            value: delta,
            text: format!("{} pp{tie}", signed_pp(delta)),
            interval: ci.map(|[lo, hi]| (lo, hi)),
        }
    };
    let (bars, title) = if summary.has_seeds() {
        let bars = summary
            .aggregates
            .iter()
            .map(|a| bar(matrix_text(&a.matrix), a.reference, false, a.delta_accuracy_pp.mean, a.delta_ci_pp))
            .collect();
        let seeds = summary.aggregates.iter().map(|a| a.seeds.len()).max().unwrap_or(0);
        (bars, format!("Test accuracy against the reference, mean of {seeds} seeds (n = {})", summary.n))
    } else {
        let bars = summary
            .rows
            .iter()
            .map(|r| {
                let label = if r.matrix.is_empty() { r.instance.clone() } else { matrix_text(&r.matrix) };
                bar(label, r.reference, r.tied, r.delta_accuracy_pp, r.delta_ci_pp)
            })
            .collect();
        (bars, format!("Test accuracy against the reference (n = {})", summary.n))
    };
    bar_chart(
        path,
        &BarChart {
            title,
            value_label: "Δ accuracy (percentage points), 95% paired-bootstrap interval".into(),
            bars,
            colours: BarColours::BySign,
            horizontal: true,
            reference: Some(("one test example (pp)".into(), summary.single_example_pp)),
        },
    )
}
