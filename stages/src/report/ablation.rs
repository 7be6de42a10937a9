//! The ablation summary: one row per gathered variant, its rank on test
//! accuracy (ties share a rank and are marked, not hidden) and its difference
//! from the reference variant in percentage points.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::document::Table;
use crate::StageError;

/// What was measured for one variant, before ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub instance: String,
    pub matrix: BTreeMap<String, Value>,
    pub accuracy: f64,
    pub f1: f64,
    /// Number of test sentences the accuracy is over.
    pub n: u64,
    pub ece: Option<f64>,
    pub dev_loss: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub instance: String,
    pub matrix: BTreeMap<String, Value>,
    pub accuracy: f64,
    pub correct: u64,
    pub n: u64,
    pub f1: f64,
    pub ece: Option<f64>,
    pub dev_loss: Option<f64>,
    pub delta_accuracy_pp: f64,
    pub delta_f1_pp: f64,
    /// Competition rank on test accuracy (1 = best; tied variants share a rank).
    pub rank: usize,
    /// Another variant has exactly the same test accuracy.
    pub tied: bool,
    pub reference: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The `reference:` matrix values as given.
    pub reference: BTreeMap<String, Value>,
    pub reference_instance: String,
    /// Test sentences of the reference variant, and what one of them is worth in pp.
    pub n: u64,
    pub single_example_pp: f64,
    /// Best first; ties in instance-name order.
    pub rows: Vec<Row>,
}

impl Summary {
    /// Every matrix key of any variant, sorted: the variant columns of the tables.
    pub fn matrix_keys(&self) -> Vec<String> {
        let keys: std::collections::BTreeSet<&String> = self.rows.iter().flat_map(|r| r.matrix.keys()).collect();
        keys.into_iter().cloned().collect()
    }
}

/// A matrix value as written in a table or compared with a `reference:` value:
/// strings bare, everything else as JSON, so `0.1` and `"0.1"` match.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `pooling=cls, dropout=0.1` (empty when the variant has no matrix values).
pub fn matrix_text(matrix: &BTreeMap<String, Value>) -> String {
    matrix.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect::<Vec<_>>().join(", ")
}

fn matches(reference: &BTreeMap<String, Value>, matrix: &BTreeMap<String, Value>) -> bool {
    reference.iter().all(|(k, v)| matrix.get(k).is_some_and(|m| value_text(m) == value_text(v)))
}

/// Ranks the variants and measures each against the one matching `reference`.
pub fn summarize(measured: Vec<Measured>, reference: &BTreeMap<String, Value>) -> Result<Summary, StageError> {
    let listing = || measured.iter().map(|m| format!("`{}`", m.instance)).collect::<Vec<_>>().join(", ");
    if measured.is_empty() {
        return Err(StageError::Input("ablate: no upstream `evaluate` artifacts were gathered".into()));
    }
    if reference.is_empty() {
        return Err(StageError::param(
            "reference",
            format!("give the matrix values of the reference variant, e.g. {{pooling: cls, dropout: 0.1}}; variants: {}", listing()),
        ));
    }
    let hits: Vec<&Measured> = measured.iter().filter(|m| matches(reference, &m.matrix)).collect();
    let base = match hits.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(StageError::param(
                "reference",
                format!("no variant has {}; variants: {}", matrix_text(reference), listing()),
            ))
        }
        _ => {
            return Err(StageError::param(
                "reference",
                format!("{} matches several variants ({}); add matrix keys to pick one", matrix_text(reference),
                    hits.iter().map(|m| format!("`{}`", m.instance)).collect::<Vec<_>>().join(", ")),
            ))
        }
    };
    let mut rows: Vec<Row> = measured
        .iter()
        .map(|m| Row {
            instance: m.instance.clone(),
            matrix: m.matrix.clone(),
            accuracy: m.accuracy,
            // Accuracy is correct / n; rounding recovers the count exactly.
            correct: (m.accuracy * m.n as f64).round() as u64,
            n: m.n,
            f1: m.f1,
            ece: m.ece,
            dev_loss: m.dev_loss,
            delta_accuracy_pp: (m.accuracy - base.accuracy) * 100.0,
            delta_f1_pp: (m.f1 - base.f1) * 100.0,
            rank: 1 + measured.iter().filter(|o| o.accuracy > m.accuracy).count(),
            tied: measured.iter().filter(|o| o.accuracy == m.accuracy).count() > 1,
            reference: m.instance == base.instance,
        })
        .collect();
    rows.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.instance.cmp(&b.instance)));
    Ok(Summary {
        reference: reference.clone(),
        reference_instance: base.instance,
        n: base.n,
        single_example_pp: if base.n == 0 { 0.0 } else { 100.0 / base.n as f64 },
        rows,
    })
}

/// A signed difference in pp; an exact zero prints without a sign.
pub fn signed_pp(delta: f64) -> String {
    if delta == 0.0 {
        "0.000".into()
    } else {
        format!("{delta:+.3}")
    }
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{v:.4}"))
}

/// The summary as a table (for ablation_summary.md and the report).
pub fn table(summary: &Summary) -> Table {
    let keys = summary.matrix_keys();
    let mut header = vec!["rank".to_string()];
    if keys.is_empty() {
        header.push("variant".into());
    } else {
        header.extend(keys.iter().cloned());
    }
    header.extend(
        ["test accuracy", "correct", "Δ accuracy (pp)", "F1", "Δ F1 (pp)", "ECE", "dev loss"].map(String::from),
    );
    let rows = summary
        .rows
        .iter()
        .map(|r| {
            let mut rank = r.rank.to_string();
            if r.tied {
                rank.push_str(" (tie)");
            }
            if r.reference {
                rank.push_str(" ref");
            }
            let mut cells = vec![rank];
            if keys.is_empty() {
                cells.push(r.instance.clone());
            } else {
                cells.extend(keys.iter().map(|k| r.matrix.get(k).map_or_else(|| "—".into(), value_text)));
            }
            cells.extend([
                format!("{:.4}", r.accuracy),
                format!("{}/{}", r.correct, r.n),
                signed_pp(r.delta_accuracy_pp),
                format!("{:.4}", r.f1),
                signed_pp(r.delta_f1_pp),
                optional(r.ece),
                optional(r.dev_loss),
            ]);
            cells
        })
        .collect();
    let footer = format!(
        "Δ: percentage points against the reference variant ({}, marked ref). A single-example difference on {} test \
         sentences is 100/{} = {:.3} pp, so gaps of one or two examples are within noise. (tie): the same test accuracy \
         as another variant; tied variants share a rank.",
        matrix_text(&summary.reference),
        summary.n,
        summary.n,
        summary.single_example_pp
    );
    Table { header, rows, footer: Some(footer) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(instance: &str, pooling: &str, accuracy: f64) -> Measured {
        Measured {
            instance: instance.into(),
            matrix: BTreeMap::from([("pooling".to_string(), json!(pooling))]),
            accuracy,
            f1: accuracy,
            n: 872,
            ece: None,
            dev_loss: None,
        }
    }

    #[test]
    fn reference_must_match_exactly_one_variant() {
        let measured = vec![m("a", "cls", 0.9), m("b", "mean", 0.8)];
        let none = BTreeMap::from([("pooling".to_string(), json!("max"))]);
        let err = summarize(measured.clone(), &none).unwrap_err();
        assert!(err.to_string().contains("no variant has pooling=max") && err.to_string().contains("`b`"), "{err}");
        let err = summarize(measured, &BTreeMap::new()).unwrap_err();
        assert!(err.is_config(), "{err}");
    }

    #[test]
    fn numbers_and_their_string_forms_match() {
        let mut a = m("a", "cls", 0.9);
        a.matrix.insert("dropout".into(), json!(0.1));
        let reference = BTreeMap::from([("dropout".to_string(), json!("0.1"))]);
        assert_eq!(summarize(vec![a, m("b", "mean", 0.8)], &reference).unwrap().reference_instance, "a");
    }
}
