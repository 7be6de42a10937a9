//! The `slice` stage: accuracy and F1 of the test predictions on negation,
//! contrast and length slices (each with its complement), against overall accuracy.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::markers;
use super::metrics::{Confusion, Metrics};
use super::predictions;
use super::slices::{content_tokens, slice_rows, Member, SliceRow, SliceSpec, LENGTH_BOUNDS};
use crate::data::tokens::TokenizedSplit;
use crate::json;
use crate::numfmt::{interval_text, sig, signed};
use crate::plot::{bar_chart, Bar, BarChart, BarColours};
use crate::stats::interval::ci_key;
use crate::{params, Context, Stage, StageError};

/// Slice definitions; `evaluate` takes the same three keys to tag its errors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SliceParams {
    /// A sentence is in the negation slice when one of its lowercased words is in this list.
    pub negation: Vec<String>,
    pub contrast: Vec<String>,
    /// Inclusive upper bounds of the length buckets in WordPiece tokens without
    /// [CLS]/[SEP]; the last bucket is open (`[4, 8, 16, 32]`: <=4, 5-8, 9-16, 17-32, 33+).
    pub length_bounds: Vec<usize>,
}

impl Default for SliceParams {
    fn default() -> Self {
        SliceParams {
            negation: markers::owned(markers::NEGATION),
            contrast: markers::owned(markers::CONTRAST),
            length_bounds: LENGTH_BOUNDS.to_vec(),
        }
    }
}

impl SliceParams {
    pub fn spec(&self) -> Result<SliceSpec, StageError> {
        SliceSpec::new(self.negation.clone(), self.contrast.clone(), self.length_bounds.clone())
    }
}

pub struct Slice;

impl Stage for Slice {
    fn kind(&self) -> &'static str {
        "slice"
    }

    fn version(&self) -> u32 {
        5
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        let resolved = params::resolve::<SliceParams>(raw)?;
        params::parse::<SliceParams>(&resolved)?.spec()?;
        Ok(resolved)
    }

    fn headline(&self) -> &'static [&'static str] {
        &["negation_accuracy", "contrast_accuracy"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let spec = params::parse::<SliceParams>(&ctx.params)?.spec()?;
        let predictions_path = ctx.input("evaluate")?.dir.join("predictions.csv");
        let tokens_path = ctx.input("tokenize")?.dir.join("test.safetensors");
        let preds = predictions::read_csv(&predictions_path)?;
        let tokens = TokenizedSplit::read(&tokens_path)?;
        if tokens.len() != preds.len() {
            return Err(StageError::Input(format!(
                "{} has {} rows but {} has {}: they must come from the same test split",
                predictions_path.display(),
                preds.len(),
                tokens_path.display(),
                tokens.len()
            )));
        }
        let tags: Vec<_> =
            preds.iter().zip(&tokens.ids).map(|(p, ids)| spec.tags(&p.text, content_tokens(ids))).collect();
        let members: Vec<Member> =
            preds.iter().zip(&tags).map(|(p, tags)| Member { label: p.label, pred: p.pred, tags }).collect();
        let overall = Metrics::of(Confusion::of(preds.iter().map(|p| (p.label, p.pred))));
        let overall_accuracy = overall.as_ref().map(|m| m.accuracy);
        let rows = slice_rows(&spec, &members, overall_accuracy, ctx.seed);
        for row in rows.iter().filter(|r| r.single_class) {
            eprintln!("warning: slice: `{}` holds one class only (n = {}); its F1 is a convention", row.name, row.n);
        }

        let report = json!({
            "definitions": {
                "negation": spec.negation,
                "contrast": spec.contrast,
                "marker_rule": "a lowercased whitespace-separated word of the sentence equals a list entry",
                "length_bounds": spec.length_bounds,
                "length_unit": "WordPiece tokens of the model's tokenizer, excluding [CLS] and [SEP]",
                "drop": "overall accuracy minus slice accuracy",
                "accuracy_ci": "95% bootstrap percentile interval: the slice's sentences resampled with replacement 1,000 times from the stage seed",
            },
            "overall": overall,
            "slices": rows,
        });
        json::write(&ctx.out_path("slices.json")?, &report)?;
        write_csv(&ctx.out_path("slices.csv")?, &rows)?;
        std::fs::write(ctx.out_path("slices.md")?, markdown(&rows, overall.as_ref()))
            .map_err(StageError::io(ctx.out_dir.join("slices.md")))?;
        bar_chart(&ctx.out_path("slices.png")?, &chart(&rows, overall_accuracy))?;

        ctx.metric("accuracy", overall_accuracy);
        for row in &rows {
            ctx.metric(&format!("{}_accuracy", row.key), row.accuracy);
            ctx.metric(&ci_key(&format!("{}_accuracy", row.key)), json!(row.accuracy_ci));
            ctx.metric(&format!("{}_n", row.key), row.n);
        }
        Ok(())
    }
}

fn write_csv(path: &std::path::Path, rows: &[SliceRow]) -> Result<(), StageError> {
    let fail = |e: csv::Error| StageError::Failed(format!("{}: {e}", path.display()));
    let mut w = csv::Writer::from_path(path).map_err(fail)?;
    let header =
        ["family", "name", "key", "complement", "n", "n_positive", "accuracy", "accuracy_ci_lo", "accuracy_ci_hi"];
    let header = header.iter().chain(&["f1", "macro_f1", "drop", "single_class"]);
    w.write_record(header).map_err(fail)?;
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in rows {
        let [lo, hi] = r.accuracy_ci.map_or([None; 2], |[lo, hi]| [Some(lo), Some(hi)]);
        let cells = [r.family.clone(), r.name.clone(), r.key.clone(), r.complement.to_string(), r.n.to_string()];
        let cells = cells.into_iter().chain([r.n_positive.to_string(), opt(r.accuracy), opt(lo), opt(hi), opt(r.f1)]);
        w.write_record(cells.chain([opt(r.macro_f1), opt(r.drop), r.single_class.to_string()])).map_err(fail)?;
    }
    w.flush().map_err(StageError::io(path))
}

fn markdown(rows: &[SliceRow], overall: Option<&Metrics>) -> String {
    let num = |v: Option<f64>| v.map_or("–".to_string(), sig);
    let delta = |v: Option<f64>| v.map_or("–".to_string(), signed);
    let mut md = String::from("# Slices of the test split\n\n");
    md += &match overall {
        Some(m) => format!("Overall: n = {}, accuracy {}, F1 {}.\n\n", m.n, sig(m.accuracy), sig(m.f1)),
        None => "Overall: n = 0.\n\n".to_string(),
    };
    md += "Drop = overall accuracy minus slice accuracy (positive: the slice is harder). 95% CI: bootstrap \
           over the slice's sentences. Lengths in WordPiece tokens without [CLS]/[SEP].\n\n";
    md += "| slice | n | positive | accuracy | 95% CI | F1 | drop |\n|---|---:|---:|---:|---:|---:|---:|\n";
    for r in rows {
        let ci = r.accuracy_ci.map_or("–".to_string(), interval_text);
        md += &format!(
            "| {} | {} | {} | {} | {ci} | {} | {} |\n",
            r.name,
            r.n,
            r.n_positive,
            num(r.accuracy),
            num(r.f1),
            delta(r.drop)
        );
    }
    md
}

fn chart(rows: &[SliceRow], overall: Option<f64>) -> BarChart {
    let bars = rows
        .iter()
        .map(|r| Bar {
            label: r.name.clone(),
            value: r.accuracy.unwrap_or(0.0),
            text: match r.accuracy {
                Some(a) => format!("{a:.3}  n={}", r.n),
                None => "n=0".to_string(),
            },
            interval: r.accuracy_ci.map(|[lo, hi]| (lo, hi)),
            second_interval: None,
        })
        .collect();
    BarChart {
        title: "Test accuracy per slice (whiskers: 95% bootstrap interval)".into(),
        value_label: "accuracy; lengths in WordPiece tokens".into(),
        bars,
        colours: BarColours::Single,
        horizontal: true,
        reference: overall.map(|a| ("overall accuracy".to_string(), a)),
    }
}
