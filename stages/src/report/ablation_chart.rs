//! The ablation chart: each variant's test accuracy difference from the
//! reference in pp, with a dashed line at one test example so that a reader
//! sees at a glance which gaps are a sentence or two.

use std::path::Path;

use super::ablation::{matrix_text, signed_pp, Summary};
use crate::plot::{bar_chart, Bar, BarChart, BarColours};
use crate::StageError;

pub fn draw(summary: &Summary, path: &Path) -> Result<(), StageError> {
    let bars = summary
        .rows
        .iter()
        .map(|r| {
            let mut label = if r.matrix.is_empty() { r.instance.clone() } else { matrix_text(&r.matrix) };
            if r.reference {
                label.push_str(" (ref)");
            }
            let tie = if r.tied { "  tie" } else { "" };
            Bar {
                label,
                value: r.delta_accuracy_pp,
                // Short, so it fits beside the longest bar; accuracies are in the table.
                text: format!("{} pp{tie}", signed_pp(r.delta_accuracy_pp)),
            }
        })
        .collect();
    bar_chart(
        path,
        &BarChart {
            title: format!("Test accuracy against the reference (n = {})", summary.n),
            value_label: "Δ accuracy (percentage points)".into(),
            bars,
            colours: BarColours::BySign,
            horizontal: true,
            reference: Some(("one test example (pp)".into(), summary.single_example_pp)),
        },
    )
}
