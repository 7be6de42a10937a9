//! The `visualize` stage: for the selected test examples (see `selection`), attention
//! heatmaps, attention rollout and integrated gradients, as figures and as numbers.
//!
//! Needs `train` (its `model/` directory: weights, config and tokenizer.json) and
//! `evaluate` (its `predictions.csv`). Writes `figures/<category>_<k>_{attention,
//! layers,rollout,ig}.png` and `attributions.json` (tokens and every plotted score).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::attention::{last_layer_figure, layer_means, layers_figure, per_head, Matrix};
use super::rollout::pooled_rollout;
use super::selection::{select, Selected, CATEGORIES};
use super::subject::Subject;
use super::token_bars::{ig_figure, rollout_figure};
use crate::eval::markers;
use crate::eval::predictions::read_csv;
use crate::model::{Precision, Quantize};
use crate::{interrupt, params, Context, Stage, StageError};

/// Class names by label index, as the figures and the report name them.
pub const CLASSES: [&str; 2] = ["negative", "positive"];
/// The class integrated gradients explain, whatever was predicted: one sign means one
/// sentiment in every figure (green towards positive, red towards negative).
const POSITIVE: usize = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisualizeParams {
    /// Examples per category (negation, contrast, failure).
    pub per_category: usize,
    /// Interpolation steps of integrated gradients (trapezoid rule).
    pub ig_steps: usize,
    /// Tokens per sentence ([CLS] … [SEP] kept); by default the train stage's `max_len`, else 128.
    pub max_len: Option<usize>,
    /// Words marking negation and contrast (as in the slice stage, same defaults).
    pub negation: Vec<String>,
    pub contrast: Vec<String>,
}

impl Default for VisualizeParams {
    fn default() -> Self {
        VisualizeParams {
            per_category: 3,
            ig_steps: 50,
            max_len: None,
            negation: markers::owned(markers::NEGATION),
            contrast: markers::owned(markers::CONTRAST),
        }
    }
}

const DEFAULT_MAX_LEN: usize = 128;

pub struct Visualize;

impl Stage for Visualize {
    fn kind(&self) -> &'static str {
        "visualize"
    }

    fn version(&self) -> u32 {
        5
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        let resolved = params::resolve::<VisualizeParams>(raw)?;
        let p: VisualizeParams = params::parse(&resolved)?;
        if p.ig_steps == 0 {
            return Err(StageError::param("ig_steps", "must be at least 1"));
        }
        if p.max_len.is_some_and(|m| m < 2) {
            return Err(StageError::param("max_len", "must be at least 2 ([CLS] and [SEP])"));
        }
        Ok(resolved)
    }

    fn headline(&self) -> &'static [&'static str] {
        &["examples", "ig_max_relative_gap"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let p: VisualizeParams = params::parse(&ctx.params)?;
        let train = ctx.input("train")?;
        let max_len = p
            .max_len
            .or_else(|| train.params.get("max_len").and_then(Value::as_u64).map(|m| m as usize))
            .unwrap_or(DEFAULT_MAX_LEN);
        let model_dir = train.dir.join("model");
        let predictions = ctx.input("evaluate")?.dir.join("predictions.csv");

        let rows = read_csv(&predictions)?;
        let chosen = select(&rows, p.per_category, &p.negation, &p.contrast);
        // f32 as in evaluate: this stage's key carries no precision.
        let subject = Subject::from_dir(&model_dir, max_len, Precision::Fp32, Quantize::None)?;

        ctx.progress.set_length(chosen.len() as u64);
        let mut examples = Vec::with_capacity(chosen.len());
        let mut gaps = Vec::with_capacity(chosen.len());
        for (i, selected) in chosen.iter().enumerate() {
            interrupt::check()?;
            ctx.progress.set_message(&format!("{} {}", selected.category, selected.k));
            let (record, gap) = explain(ctx, &subject, selected, p.ig_steps)?;
            examples.push(record);
            gaps.push(gap);
            ctx.progress.set_position(i as u64 + 1);
        }

        ctx.metric("examples", chosen.len() as u64);
        for category in CATEGORIES {
            ctx.metric(
                &format!("{category}_examples"),
                chosen.iter().filter(|s| s.category == category).count() as u64,
            );
        }
        let finite = gaps.iter().copied().filter(|g| g.is_finite());
        ctx.metric(
            "ig_max_relative_gap",
            finite.clone().fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g)))),
        );
        let n = finite.clone().count();
        ctx.metric("ig_mean_relative_gap", (n > 0).then(|| finite.sum::<f64>() / n as f64));

        let doc = json!({
            "pooling": subject.pooling.name(),
            "max_len": max_len,
            "ig": {
                "steps": p.ig_steps,
                "rule": "trapezoid",
                "target": "softmax probability of the positive class",
                "baseline": "[PAD] word embeddings, [CLS]/[SEP] kept",
                "scores": "(x - baseline) * mean gradient, summed over the hidden dimension",
            },
            "attention": "softmax probabilities [layer][head][query][key], rounded to 1e-4",
            "examples": examples,
        });
        crate::json::write_compact(&ctx.out_path("attributions.json")?, &doc)
    }
}

/// Draws the four figures of one example and returns its record for attributions.json
/// with its relative completeness gap.
fn explain(ctx: &Context, subject: &Subject, s: &Selected, steps: usize) -> Result<(Value, f64), StageError> {
    let row = &s.row;
    let encoded = subject.encode(&row.text)?;
    let seen = subject.look(&encoded)?;
    let class = |c: u8| CLASSES.get(usize::from(c)).copied().unwrap_or("?");
    let caption = format!(
        "{} {}: predicted {} {}, label {}",
        s.category,
        s.k,
        class(row.pred),
        confidence_text(row.confidence),
        class(row.label)
    );
    let stem = format!("figures/{}_{}", s.category, s.k);
    let file = |kind: &str| format!("{stem}_{kind}.png");

    let heads = per_head(&seen.attentions)?;
    let means = layer_means(&seen.attentions)?;
    let mean = means.last().ok_or_else(|| StageError::Failed("the model returned no attention layers".into()))?;
    last_layer_figure(&ctx.out_path(file("attention"))?, &encoded.tokens, mean, &caption)?;
    layers_figure(&ctx.out_path(file("layers"))?, &encoded.tokens, &means, &caption)?;

    let rollout = pooled_rollout(&seen.attentions, subject.pooling)?;
    rollout_figure(&ctx.out_path(file("rollout"))?, &encoded.tokens, &rollout, subject.pooling, &caption)?;

    let ig = subject.integrated_gradients(&encoded, POSITIVE, steps)?;
    ig_figure(&ctx.out_path(file("ig"))?, &encoded.tokens, &ig, CLASSES[POSITIVE], &caption)?;

    let record = json!({
        "category": s.category,
        "k": s.k,
        "idx": row.idx,
        "text": row.text,
        "label": row.label,
        "pred": row.pred,
        "confidence": row.confidence,
        "model_probs": seen.probs,
        "tokens": encoded.tokens,
        "ids": encoded.ids,
        "figures": {
            "attention": file("attention"),
            "layers": file("layers"),
            "rollout": file("rollout"),
            "ig": file("ig"),
        },
        "attention_last_layer_mean": rounded(mean),
        "attention": heads.iter().map(|layer| layer.iter().map(rounded).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "rollout": rollout,
        "ig": {
            "target": ig.target,
            "scores": ig.scores,
            "f_input": ig.f_input,
            "f_baseline": ig.f_baseline,
            "completeness_gap": ig.completeness_gap(),
            "relative_gap": ig.relative_gap(),
        },
    });
    Ok((record, ig.relative_gap()))
}

/// Attention matrices are large (layers x heads x t²); four decimals are far finer
/// than a colour cell can show and keep the file a readable size.
/// Two decimals, or as many more (up to 6) as keep the confidence from reading 1.00:
/// 0.9976 is "0.998", not a certainty.
fn confidence_text(p: f64) -> String {
    let decimals = (2..6).find(|&d| format!("{p:.d$}").parse::<f64>().is_ok_and(|r| r < 1.0)).unwrap_or(6);
    format!("{p:.decimals$}")
}

fn rounded(m: &Matrix) -> Vec<Vec<f64>> {
    m.iter().map(|row| row.iter().map(|&v| (f64::from(v) * 1e4).round() / 1e4).collect()).collect()
}
