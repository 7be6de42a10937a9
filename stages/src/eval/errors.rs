//! Error analysis: the misclassified test examples ranked by confidence (most
//! confident mistakes first), tagged with their slices, with false positive and
//! false negative counts and a markdown table of the top mistakes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::predictions::Prediction;
use super::slices::Tags;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorRow {
    /// 1 = the most confident mistake.
    pub rank: usize,
    pub idx: u64,
    pub text: String,
    pub label: u8,
    pub pred: u8,
    pub confidence: f64,
    pub p_positive: f64,
    /// `false positive` (negative predicted positive) or `false negative`.
    pub kind: &'static str,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorAnalysis {
    pub n: usize,
    pub n_errors: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    /// Mistakes per slice (`negation`, `contrast`, `length <=4`, ...).
    pub errors_by_slice: BTreeMap<String, usize>,
    pub errors: Vec<ErrorRow>,
}

/// `tags[i]` belongs to `predictions[i]`.
pub fn analyse(predictions: &[Prediction], tags: &[Tags]) -> ErrorAnalysis {
    let mut wrong: Vec<(&Prediction, &Tags)> = predictions.iter().zip(tags).filter(|(p, _)| !p.correct).collect();
    // Most confident first; idx breaks ties so the order is deterministic.
    wrong.sort_by(|a, b| b.0.confidence.total_cmp(&a.0.confidence).then(a.0.idx.cmp(&b.0.idx)));
    let mut errors_by_slice = BTreeMap::new();
    for (_, t) in &wrong {
        let slices = [
            (t.negation, "negation".to_string()),
            (t.contrast, "contrast".to_string()),
            (true, format!("length {}", t.length)),
        ];
        for (inside, name) in slices {
            *errors_by_slice.entry(name).or_insert(0) += usize::from(inside);
        }
    }
    let errors: Vec<ErrorRow> = wrong
        .iter()
        .enumerate()
        .map(|(i, (p, t))| ErrorRow {
            rank: i + 1,
            idx: p.idx,
            text: p.text.clone(),
            label: p.label,
            pred: p.pred,
            confidence: p.confidence,
            p_positive: p.p_positive,
            kind: if p.pred == 1 { "false positive" } else { "false negative" },
            tags: (*t).clone(),
        })
        .collect();
    let false_positives = errors.iter().filter(|e| e.pred == 1).count();
    ErrorAnalysis {
        n: predictions.len(),
        n_errors: errors.len(),
        false_positives,
        false_negatives: errors.len() - false_positives,
        errors_by_slice,
        errors,
    }
}

/// A markdown summary with the `top` most confident mistakes as a table.
pub fn markdown(a: &ErrorAnalysis, top: usize) -> String {
    let share = if a.n > 0 { 100.0 * a.n_errors as f64 / a.n as f64 } else { 0.0 };
    let mut md = format!(
        "# Error analysis (test split)\n\n{} examples, {} misclassified ({share:.1}%): {} false positives \
         (negative predicted positive), {} false negatives (positive predicted negative).\n\n",
        a.n, a.n_errors, a.false_positives, a.false_negatives
    );
    let per_slice: Vec<String> = a.errors_by_slice.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    md += &format!(
        "Mistakes per slice: {}.\n\n",
        if per_slice.is_empty() { "none".into() } else { per_slice.join(", ") }
    );
    let shown = a.errors.len().min(top);
    md += &format!("## The {shown} most confident mistakes\n\n");
    md += "| rank | idx | label | pred | confidence | kind | slices | text |\n|---:|---:|---:|---:|---:|---|---|---|\n";
    for e in &a.errors[..shown] {
        let mut slices = vec![format!("length {}", e.tags.length)];
        slices.extend(e.tags.negation.then(|| "negation".to_string()));
        slices.extend(e.tags.contrast.then(|| "contrast".to_string()));
        md += &format!(
            "| {} | {} | {} | {} | {:.3} | {} | {} | {} |\n",
            e.rank,
            e.idx,
            e.label,
            e.pred,
            e.confidence,
            e.kind,
            slices.join(", "),
            e.text.replace('|', "\\|")
        );
    }
    md
}
