//! The `ablate` stage: gathers every variant of a matrix of `evaluate` artifacts
//! (with their `calibrate` and `train` artifacts when those are gathered too) and
//! writes the ablation summary as JSON, CSV and Markdown plus a chart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ablation::{self, Measured, Summary};
use super::markdown;
use crate::{params, Context, Input, Stage, StageError};

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
        // 2: value texts on a white box where the dashed reference line crosses them.
        2
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        params::resolve::<AblateParams>(raw)
    }

    fn headline(&self) -> &'static [&'static str] {
        &["variants", "reference_accuracy", "best_accuracy", "best_delta_pp"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let p: AblateParams = params::parse(&ctx.params)?;
        let measured = ctx.inputs_of("evaluate").into_iter().map(|e| measure(ctx, e)).collect::<Result<Vec<_>, _>>()?;
        let summary = ablation::summarize(measured, &p.reference)?;
        write(ctx, "ablation_summary.json", serde_json::to_string_pretty(&summary).map_err(json_error)? + "\n")?;
        write(ctx, "ablation_summary.csv", csv_text(&summary)?)?;
        write(
            ctx,
            "ablation_summary.md",
            format!("# Ablation summary\n\n{}", markdown::table(&ablation::table(&summary))),
        )?;
        super::ablation_chart::draw(&summary, &ctx.out_path("ablation.png")?)?;
        let best = &summary.rows[0];
        let reference = summary.rows.iter().find(|r| r.reference).map_or(f64::NAN, |r| r.accuracy);
        ctx.metric("variants", summary.rows.len());
        ctx.metric("reference_accuracy", reference);
        ctx.metric("best_accuracy", best.accuracy);
        ctx.metric("best_delta_pp", best.delta_accuracy_pp);
        ctx.metric("tied_variants", summary.rows.iter().filter(|r| r.tied).count());
        ctx.metric("single_example_pp", summary.single_example_pp);
        Ok(())
    }
}

fn json_error(e: serde_json::Error) -> StageError {
    StageError::Failed(format!("ablate: cannot serialise the summary: {e}"))
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
    let n = number(evaluate, "n")?;
    Ok(Measured {
        instance: evaluate.instance.clone(),
        matrix: evaluate.matrix.clone(),
        accuracy: number(evaluate, "accuracy")?,
        f1: number(evaluate, "f1")?,
        n: n as u64,
        ece,
        dev_loss,
    })
}

fn csv_text(summary: &Summary) -> Result<String, StageError> {
    let keys = summary.matrix_keys();
    let fail = |e: csv::Error| StageError::Failed(format!("ablate: writing ablation_summary.csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["instance".to_string()];
    header.extend(keys.iter().cloned());
    header.extend(
        ["accuracy", "correct", "n", "f1", "ece", "dev_loss", "delta_accuracy_pp", "delta_f1_pp", "rank", "tied", "reference"]
            .map(String::from),
    );
    w.write_record(&header).map_err(fail)?;
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in &summary.rows {
        let mut record = vec![r.instance.clone()];
        record.extend(keys.iter().map(|k| r.matrix.get(k).map(ablation::value_text).unwrap_or_default()));
        record.extend([
            r.accuracy.to_string(),
            r.correct.to_string(),
            r.n.to_string(),
            r.f1.to_string(),
            opt(r.ece),
            opt(r.dev_loss),
            r.delta_accuracy_pp.to_string(),
            r.delta_f1_pp.to_string(),
            r.rank.to_string(),
            r.tied.to_string(),
            r.reference.to_string(),
        ]);
        w.write_record(&record).map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| StageError::Failed(format!("ablate: writing ablation_summary.csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| StageError::Failed(format!("ablate: ablation_summary.csv: {e}")))
}
