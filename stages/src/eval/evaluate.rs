//! The `evaluate` stage: scores the test and dev splits with the trained model
//! (`<train>/model`) and writes predictions, metrics, a confusion matrix, the
//! error analysis and the raw logits for calibration.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::errors::{analyse, markdown};
use super::logits::Logits;
use super::metrics::{ClassScores, Confusion, Metrics};
use super::predictions::{write_csv, Prediction};
use super::scores::Scored;
use super::slice::SliceParams;
use super::slices::content_tokens;
use crate::data::examples::{read_jsonl, Example};
use crate::data::tokens::TokenizedSplit;
use crate::json;
use crate::model::{Classifier, ModelOptions, Pooling, Quantize};
use crate::plot::{heatmap, Heatmap, Scale};
use crate::stats::bootstrap::{Bootstrap, Statistic};
use crate::stats::interval::{ci_key, Interval};
use crate::stats::wilson::wilson;
use crate::{params, Context, Stage, StageError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluateParams {
    /// Sentences per forward pass (does not change the predictions beyond float rounding).
    pub batch_size: usize,
    /// Rows of the most-confident-mistakes table in errors.md (errors.json lists all).
    pub top_errors: usize,
    /// Slice definitions used to tag the errors (same keys as the `slice` stage).
    pub slices: SliceParams,
    /// `int8`: score with dynamically quantized dense layers (kernels/int8.rs). Left out
    /// of the resolved params when `none`, so unquantized keys are as before.
    #[serde(skip_serializing_if = "Quantize::is_none")]
    pub quantize: Quantize,
}

impl Default for EvaluateParams {
    fn default() -> Self {
        EvaluateParams { batch_size: 128, top_errors: 20, slices: SliceParams::default(), quantize: Quantize::None }
    }
}

pub struct Evaluate;

impl Stage for Evaluate {
    fn kind(&self) -> &'static str {
        "evaluate"
    }

    fn version(&self) -> u32 {
        3
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        let resolved = params::resolve::<EvaluateParams>(raw)?;
        let p: EvaluateParams = params::parse(&resolved)?;
        if p.batch_size == 0 {
            return Err(StageError::param("batch_size", "must be at least 1"));
        }
        p.slices.spec()?;
        Ok(resolved)
    }

    fn implicit(&self) -> Value {
        json!({"quantize": Quantize::None.name()})
    }

    fn headline(&self) -> &'static [&'static str] {
        &["accuracy", "f1", "macro_f1"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let p: EvaluateParams = params::parse(&ctx.params)?;
        let spec = p.slices.spec()?;
        let train = ctx.input("train")?;
        let pooling: Pooling = match train.params.get("pooling") {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| StageError::Input(format!("train stage `{}`: param `pooling`: {e}", train.instance)))?,
            None => Pooling::default(),
        };
        let model_dir = train.dir.join("model");
        let tokens_dir = ctx.input("tokenize")?.dir.clone();
        let split_dir = ctx.input("split")?.dir.clone();
        let test = Split::load(&split_dir, &tokens_dir, "test")?;
        let dev = Split::load(&split_dir, &tokens_dir, "dev")?;
        if test.examples.is_empty() {
            return Err(StageError::Input(format!(
                "{}: the test split is empty",
                split_dir.join("test.jsonl").display()
            )));
        }

        ctx.progress.set_message("loading model");
        // Eval mode ignores dropout; the layer count comes from the saved config.
        let opts = ModelOptions { pooling, dropout: 0.0, quantize: p.quantize, ..ModelOptions::default() };
        let model = Classifier::from_dir(&model_dir, &opts)?;
        ctx.progress.set_message("scoring test");
        let test_scored = test.score(&model, p.batch_size)?;
        ctx.progress.set_message("scoring dev");
        let dev_scored = dev.score(&model, p.batch_size)?;

        let test_preds = test.predictions(&test_scored);
        let dev_preds = dev.predictions(&dev_scored);
        write_csv(&ctx.out_path("predictions.csv")?, &test_preds)?;
        write_csv(&ctx.out_path("dev_predictions.csv")?, &dev_preds)?;
        json::write(&ctx.out_path("logits.json")?, &Logits::new(&test_scored, &dev_scored))?;

        let confusion = Confusion::of(test_scored.iter().map(|s| (s.label, s.pred())));
        let metrics = Metrics::of(confusion).ok_or_else(|| StageError::Failed("no test predictions".into()))?;
        let dev_metrics = Metrics::of(Confusion::of(dev_scored.iter().map(|s| (s.label, s.pred()))));
        let mut warnings = Vec::new();
        if metrics.single_class() {
            warnings.push(
                "the test split holds one class only: precision/recall/F1 of the absent class are 0 by convention"
                    .to_string(),
            );
        }
        for w in &warnings {
            eprintln!("warning: evaluate: {w}");
        }
        let intervals = Intervals::of(ctx.seed, &test_scored, &metrics);
        json::write(
            &ctx.out_path("classification_report.json")?,
            &report(&metrics, dev_metrics.as_ref(), &intervals, &warnings),
        )?;
        heatmap(&ctx.out_path("confusion_matrix.png")?, &confusion_chart(&confusion))?;

        let tags: Vec<_> =
            test_preds.iter().zip(&test.tokens.ids).map(|(p, ids)| spec.tags(&p.text, content_tokens(ids))).collect();
        let errors = analyse(&test_preds, &tags);
        json::write(&ctx.out_path("errors.json")?, &errors)?;
        let md_path = ctx.out_path("errors.md")?;
        std::fs::write(&md_path, markdown(&errors, p.top_errors)).map_err(StageError::io(&md_path))?;
        let mut misclassified: Vec<Prediction> = test_preds.iter().filter(|p| !p.correct).cloned().collect();
        misclassified.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.idx.cmp(&b.idx)));
        write_csv(&ctx.out_path("misclassified.csv")?, &misclassified)?;

        for (name, value, ci) in [
            ("accuracy", metrics.accuracy, intervals.accuracy),
            ("precision", metrics.precision, None),
            ("recall", metrics.recall, None),
            ("f1", metrics.f1, intervals.f1),
            ("macro_f1", metrics.macro_f1, intervals.macro_f1),
        ] {
            ctx.metric(name, value);
            if let Some(ci) = ci {
                ctx.metric(&ci_key(name), json!(ci));
            }
        }
        ctx.metric("accuracy_wilson", json!(intervals.accuracy_wilson));
        ctx.metric("confusion", json!(metrics.confusion));
        ctx.metric("n", metrics.n);
        ctx.metric("false_positives", errors.false_positives);
        ctx.metric("false_negatives", errors.false_negatives);
        ctx.metric("dev_accuracy", dev_metrics.as_ref().map(|m| m.accuracy));
        ctx.metric("dev_n", dev_scored.len());
        Ok(())
    }
}

/// One split: its examples (texts, labels) and token ids, row-aligned.
struct Split {
    examples: Vec<Example>,
    labels: Vec<u8>,
    tokens: TokenizedSplit,
}

impl Split {
    fn load(split_dir: &Path, tokens_dir: &Path, name: &str) -> Result<Split, StageError> {
        let jsonl = split_dir.join(format!("{name}.jsonl"));
        let st = tokens_dir.join(format!("{name}.safetensors"));
        let examples = read_jsonl(&jsonl)?;
        let tokens = TokenizedSplit::read(&st)?;
        if examples.len() != tokens.len() {
            return Err(StageError::Input(format!(
                "{} has {} rows but {} has {}: tokenize must run on this split",
                jsonl.display(),
                examples.len(),
                st.display(),
                tokens.len()
            )));
        }
        let mut labels = Vec::with_capacity(examples.len());
        for (row, (e, &tokenized)) in examples.iter().zip(&tokens.labels).enumerate() {
            let label = e.label.filter(|&l| l <= 1).ok_or_else(|| {
                StageError::Input(format!(
                    "{}: line {}: evaluation needs a label 0 or 1, got {:?}",
                    jsonl.display(),
                    row + 1,
                    e.label
                ))
            })?;
            if i64::from(label) != tokenized {
                return Err(StageError::Input(format!(
                    "{}: row {row} has label {tokenized} but {} line {} has {label}: the artifacts do not match",
                    st.display(),
                    jsonl.display(),
                    row + 1
                )));
            }
            labels.push(label);
        }
        Ok(Split { examples, labels, tokens })
    }

    fn score(&self, model: &Classifier, batch_size: usize) -> Result<Vec<Scored>, StageError> {
        let logits = model.predict_logits(&self.tokens.ids, batch_size)?;
        Ok(logits
            .iter()
            .zip(&self.labels)
            .map(|(l, &label)| Scored { logits: [l[0] as f64, l[1] as f64], label })
            .collect())
    }

    fn predictions(&self, scored: &[Scored]) -> Vec<Prediction> {
        self.examples.iter().zip(scored).map(|(e, s)| Prediction::new(e, s)).collect()
    }
}

/// 95% intervals of the test metrics: bootstrap (percentile, 1,000 resamples of the
/// test set drawn from the stage seed) and, for accuracy, Wilson's as a cross-check.
struct Intervals {
    accuracy: Option<Interval>,
    f1: Option<Interval>,
    macro_f1: Option<Interval>,
    accuracy_wilson: Option<Interval>,
}

impl Intervals {
    fn of(seed: u64, scored: &[Scored], metrics: &Metrics) -> Intervals {
        let pairs: Vec<(u8, u8)> = scored.iter().map(|s| (s.label, s.pred())).collect();
        let of = |f: fn(&Metrics) -> f64| {
            move |sample: &[(u8, u8)]| Metrics::of(Confusion::of(sample.iter().copied())).map(|m| f(&m))
        };
        let (accuracy, f1, macro_f1) = (of(|m| m.accuracy), of(|m| m.f1), of(|m| m.macro_f1));
        let statistics: [Statistic<(u8, u8)>; 3] = [&accuracy, &f1, &macro_f1];
        let [accuracy, f1, macro_f1] = Bootstrap::new(seed, "test").intervals(&pairs, statistics);
        let correct = (metrics.confusion.tn + metrics.confusion.tp) as u64;
        Intervals { accuracy, f1, macro_f1, accuracy_wilson: wilson(correct, metrics.n as u64) }
    }
}

/// A per-class report in the layout of scikit-learn's `classification_report`.
fn report(m: &Metrics, dev: Option<&Metrics>, ci: &Intervals, warnings: &[String]) -> Value {
    let (neg, pos) = (m.confusion.class(0), m.confusion.class(1));
    let n = m.n as f64;
    let avg = |w0: f64, w1: f64| {
        let mix = |f: fn(&ClassScores) -> f64| (w0 * f(&neg) + w1 * f(&pos)) / (w0 + w1);
        json!({"precision": mix(|c| c.precision), "recall": mix(|c| c.recall), "f1": mix(|c| c.f1), "support": m.n})
    };
    json!({
        "split": "test",
        "n": m.n,
        "accuracy": m.accuracy,
        "classes": {"negative": neg, "positive": pos},
        "macro_avg": avg(1.0, 1.0),
        "weighted_avg": avg(neg.support as f64 / n, pos.support as f64 / n),
        "positive_class": {"precision": m.precision, "recall": m.recall, "f1": m.f1},
        "macro_f1": m.macro_f1,
        "confusion": m.confusion,
        "confusion_layout": "[[tn, fp], [fn, tp]]: rows = true label (negative, positive), columns = prediction",
        "dev": dev,
        "intervals": {
            "method": "95% bootstrap percentile intervals: 1,000 resamples of the test set with replacement, drawn from the stage seed; accuracy also by Wilson's score interval",
            "accuracy": ci.accuracy,
            "accuracy_wilson": ci.accuracy_wilson,
            "f1": ci.f1,
            "macro_f1": ci.macro_f1,
        },
        "warnings": warnings,
    })
}

fn confusion_chart(c: &Confusion) -> Heatmap {
    let n = c.n().max(1) as f64;
    let m = c.matrix();
    let labels = vec!["negative (0)".to_string(), "positive (1)".to_string()];
    Heatmap {
        title: format!("Confusion matrix, test (n = {})", c.n()),
        values: m.iter().map(|r| r.iter().map(|&v| v as f64).collect()).collect(),
        row_labels: labels.clone(),
        col_labels: labels,
        x_label: "predicted".into(),
        y_label: "true".into(),
        value_label: "count".into(),
        scale: Scale::Sequential,
        range: Some((0.0, m.iter().flatten().copied().max().unwrap_or(1).max(1) as f64)),
        cell_text: Some(
            m.iter().map(|r| r.iter().map(|&v| format!("{v} ({:.1}%)", 100.0 * v as f64 / n)).collect()).collect(),
        ),
    }
}
