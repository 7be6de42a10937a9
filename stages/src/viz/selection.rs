//! Which test examples the visualize stage explains: per category, a fixed number
//! picked deterministically from the evaluate stage's `predictions.csv`.
//!
//! - `negation`, `contrast`: sentences with a marker word (the slice stage's
//!   definitions, `eval::markers`), in file order (the test split's order).
//! - `failure`: misclassified sentences, most confident first (the errors the model
//!   is surest of are the most telling); ties keep file order.

use crate::eval::markers;
use crate::eval::predictions::Prediction;

/// One example to explain: `category`, its rank `k` (1-based) within it, and the row.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub category: &'static str,
    pub k: usize,
    pub row: Prediction,
}

pub const CATEGORIES: [&str; 3] = ["negation", "contrast", "failure"];

/// Up to `per_category` examples of each category, in [`CATEGORIES`] order.
pub fn select(rows: &[Prediction], per_category: usize, negation: &[String], contrast: &[String]) -> Vec<Selected> {
    let mut failures: Vec<&Prediction> = rows.iter().filter(|r| !r.correct).collect();
    // Stable sort: equal confidences keep file order.
    failures.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let picks: [Vec<&Prediction>; 3] = [
        rows.iter().filter(|r| markers::contains_any(&r.text, negation)).collect(),
        rows.iter().filter(|r| markers::contains_any(&r.text, contrast)).collect(),
        failures,
    ];
    CATEGORIES
        .iter()
        .zip(picks)
        .flat_map(|(&category, rows)| {
            rows.into_iter().take(per_category).enumerate().map(move |(i, row)| Selected {
                category,
                k: i + 1,
                row: row.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(idx: u64, text: &str, label: u8, pred: u8, confidence: f64) -> Prediction {
        let p_positive = if pred == 1 { confidence } else { 1.0 - confidence };
        let p_negative = 1.0 - p_positive;
        Prediction { idx, text: text.into(), label, pred, p_negative, p_positive, confidence, correct: label == pred }
    }

    #[test]
    fn picks_markers_in_file_order_and_failures_by_confidence() {
        let rows = vec![
            row(0, "not good", 0, 0, 0.9),
            row(1, "good but long", 1, 0, 0.7),
            row(2, "never again , but fun", 1, 0, 0.95),
            row(3, "fine", 1, 0, 0.7),
            row(4, "no", 0, 0, 0.6),
        ];
        let neg = markers::owned(markers::NEGATION);
        let con = markers::owned(markers::CONTRAST);
        let picked: Vec<(&str, usize, u64)> =
            select(&rows, 2, &neg, &con).iter().map(|s| (s.category, s.k, s.row.idx)).collect();
        assert_eq!(
            picked,
            vec![
                ("negation", 1, 0),
                ("negation", 2, 2),
                ("contrast", 1, 1),
                ("contrast", 2, 2),
                ("failure", 1, 2),
                ("failure", 2, 1), // 0.7 tie with row 3: file order
            ]
        );
        assert_eq!(select(&rows, 0, &neg, &con), vec![]);
    }
}
