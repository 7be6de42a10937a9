//! The `ablate` stage: gathers every variant of a matrix of `evaluate` artifacts
//! (with their `calibrate` and `train` artifacts when those are gathered too),
//! compares each with the reference on the same test sentences (paired bootstrap,
//! McNemar), aggregates over seeds, and writes the ablation summary as JSON, CSV
//! and Markdown plus a chart with error bars.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ablation::{self, Measured, Summary, Verdict};
use super::markdown;
use crate::eval::predictions;
use crate::stats::bootstrap::Bootstrap;
use crate::stats::interval::{ci_key, of_metric};
use crate::{params, Context, Input, Stage, StageError, Upstream};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AblateParams {
    /// Matrix values of the variant the others are compared with, e.g. {pooling: cls, dropout: 0.1}.
    pub reference: BTreeMap<String, Value>,
}

pub struct Ablate;

impl Stage for Ablate {
    fn kind(&self) -> &'static str {
        "ablate"
    }

    fn version(&self) -> u32 {
        8
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        params::resolve::<AblateParams>(raw)
    }

    fn check(&self, params: &Value, _workdir: &Path, upstream: &[Upstream]) -> Result<(), StageError> {
        let p: AblateParams = params::parse(params)?;
        let variants: Vec<(&str, &BTreeMap<String, Value>)> =
            upstream.iter().filter(|u| u.kind == "evaluate").map(|u| (u.name, u.matrix)).collect();
        if variants.is_empty() {
            return Ok(());
        }
        ablation::reference_variants(&p.reference, &variants).map(drop)
    }

    fn headline(&self) -> &'static [&'static str] {
        &["variants", "reference_accuracy", "best_accuracy", "best_delta_pp", "better_variants", "worse_variants"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let p: AblateParams = params::parse(&ctx.params)?;
        let measured = ctx.inputs_of("evaluate").into_iter().map(|e| measure(ctx, e)).collect::<Result<Vec<_>, _>>()?;
        let mut summary = ablation::summarize(measured, &p.reference, &Bootstrap::new(ctx.seed, "test"))?;
        summary.recipe = recipe(&ctx.inputs_of("train"));
        crate::json::write(&ctx.out_path("ablation_summary.json")?, &summary)?;
        write(ctx, "ablation_summary.csv", csv_text(&summary)?)?;
        let mut md = String::from("# Ablation summary\n\n");
        if let Some(recipe) = ablation::recipe_text(&summary) {
            md += &format!("{recipe}\n\n");
        }
        if summary.has_seeds() {
            md += &format!("## Over seeds\n\n{}\n## Per seed\n\n", markdown::table(&ablation::seeds_table(&summary)));
        }
        md += &markdown::table(&ablation::table(&summary));
        write(ctx, "ablation_summary.md", md)?;
        super::ablation_chart::draw(&summary, &ctx.out_path("ablation.png")?)?;
        // Over seeds when the matrix has a seed axis (one value per configuration otherwise).
        let best = &summary.aggregates[0];
        let reference = summary.aggregates.iter().find(|a| a.reference).map_or(f64::NAN, |a| a.accuracy.mean);
        let count = |v: Verdict| summary.aggregates.iter().filter(|a| a.verdict == Some(v)).count();
        ctx.metric("variants", summary.rows.len());
        ctx.metric("configurations", summary.aggregates.len());
        // Without a seed axis each configuration ran once, under the pipeline's seed.
        ctx.metric("seeds", summary.aggregates.iter().map(|a| a.seeds.len().max(1)).max().unwrap_or(0));
        ctx.metric("reference_accuracy", reference);
        ctx.metric("best_accuracy", best.accuracy.mean);
        ctx.metric("best_delta_pp", best.delta_accuracy_pp.mean);
        ctx.metric(&ci_key("best_delta_pp"), serde_json::json!(best.delta_ci_pp));
        ctx.metric("better_variants", count(Verdict::Better));
        ctx.metric("worse_variants", count(Verdict::Worse));
        ctx.metric("tied_variants", summary.rows.iter().filter(|r| r.tied).count());
        ctx.metric("single_example_pp", summary.single_example_pp);
        Ok(())
    }
}

/// The train params with one value across `trains`, as each ran.
fn recipe(trains: &[&Input]) -> BTreeMap<String, Value> {
    let runs: Vec<Value> = trains.iter().map(|t| t.params_as_run().0).collect();
    let Some(first) = runs.first().and_then(Value::as_object) else { return BTreeMap::new() };
    let shared = first.iter().filter(|(k, v)| !v.is_null() && runs.iter().all(|r| r.get(k.as_str()) == Some(v)));
    shared.map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn write(ctx: &Context, name: &str, text: String) -> Result<(), StageError> {
    let path = ctx.out_path(name)?;
    std::fs::write(&path, text).map_err(StageError::io(path))
}

fn number(input: &Input, key: &str) -> Result<f64, StageError> {
    input.metrics.get(key).and_then(Value::as_f64).ok_or_else(|| {
        StageError::Input(format!(
            "ablate: metric `{key}` is missing from {}/metrics.json (upstream `{}`)",
            input.dir.display(),
            input.instance
        ))
    })
}

/// The gathered artifact of `kind` produced for the same matrix values as `evaluate`.
fn sibling<'c>(ctx: &'c Context, kind: &str, evaluate: &Input) -> Result<Option<&'c Input>, StageError> {
    let found: Vec<&Input> = ctx.inputs_of(kind).into_iter().filter(|i| i.matrix == evaluate.matrix).collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(StageError::Input(format!(
            "ablate: several gathered `{kind}` artifacts have the matrix values of `{}`",
            evaluate.instance
        ))),
    }
}

fn measure(ctx: &Context, evaluate: &Input) -> Result<Measured, StageError> {
    let ece = sibling(ctx, "calibrate", evaluate)?.map(|c| number(c, "ece")).transpose()?;
    // Dev loss is the train stage's; evaluate may echo it, so use that when train is not gathered.
    let dev_loss = match sibling(ctx, "train", evaluate)? {
        Some(train) => Some(number(train, "best_dev_loss")?),
        None => evaluate.metrics.get("best_dev_loss").and_then(Value::as_f64),
    };
    let (accuracy, f1, n) = (number(evaluate, "accuracy")?, number(evaluate, "f1")?, number(evaluate, "n")? as usize);
    let rows = predictions::read_csv(&evaluate.dir.join("predictions.csv"))?;
    if rows.len() != n {
        return Err(StageError::Input(format!(
            "ablate: {}/predictions.csv has {} rows but metric `n` is {n} (upstream `{}`)",
            evaluate.dir.display(),
            rows.len(),
            evaluate.instance
        )));
    }
    let accuracy_ci = of_metric(&evaluate.metrics, "accuracy");
    Ok(Measured {
        instance: evaluate.instance.clone(),
        matrix: evaluate.matrix.clone(),
        accuracy,
        accuracy_ci,
        f1,
        ece,
        dev_loss,
        correct: rows.iter().map(|r| r.correct).collect(),
    })
}

fn csv_text(summary: &Summary) -> Result<String, StageError> {
    let keys = summary.matrix_keys();
    let fail = |e: csv::Error| StageError::Failed(format!("ablate: writing ablation_summary.csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["instance".to_string()];
    header.extend(keys.iter().cloned());
    let columns =
        ["accuracy", "accuracy_ci_lo", "accuracy_ci_hi", "correct", "n", "f1", "ece", "dev_loss", "delta_accuracy_pp"];
    let more = [
        "delta_ci_lo_pp",
        "delta_ci_hi_pp",
        "mcnemar_b",
        "mcnemar_c",
        "mcnemar_p",
        "verdict",
        "delta_f1_pp",
        "rank",
        "tied",
    ];
    header.extend(columns.iter().chain(&more).chain(&["reference"]).map(|c| c.to_string()));
    w.write_record(&header).map_err(fail)?;
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let ends =
        |ci: Option<[f64; 2]>| ci.map_or([String::new(), String::new()], |[lo, hi]| [lo.to_string(), hi.to_string()]);
    for r in &summary.rows {
        let mut record = vec![r.instance.clone()];
        record.extend(keys.iter().map(|k| r.matrix.get(k).map(ablation::value_text).unwrap_or_default()));
        record.push(r.accuracy.to_string());
        record.extend(ends(r.accuracy_ci));
        record.extend([r.correct.to_string(), r.n.to_string(), r.f1.to_string(), opt(r.ece), opt(r.dev_loss)]);
        record.push(r.delta_accuracy_pp.to_string());
        record.extend(ends(r.delta_ci_pp));
        record.extend([
            opt(r.mcnemar.map(|m| m.b as f64)),
            opt(r.mcnemar.map(|m| m.c as f64)),
            opt(r.mcnemar.map(|m| m.p_value)),
        ]);
        record.push(r.verdict.map_or("reference", Verdict::text).to_string());
        record.extend([r.delta_f1_pp.to_string(), r.rank.to_string(), r.tied.to_string(), r.reference.to_string()]);
        w.write_record(&record).map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| StageError::Failed(format!("ablate: writing ablation_summary.csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| StageError::Failed(format!("ablate: ablation_summary.csv: {e}")))
}
