//! The report's sections, each built from the upstream artifacts of one kind:
//! the summary first, the run configuration last as an appendix. A section whose
//! upstream is absent is left out; a file an upstream did not write becomes a
//! note instead of an error: a report of a partial pipeline is still a report.

use serde_json::Value;

use super::ablation::{self, Summary};
use super::ablation_chart;
use super::artifacts::{interval_cell, metrics_table, read_json, records_table};
use super::baseline::Baseline;
use super::document::{Block, Document, Section, Table};
use super::figures::figure;
use super::summary::summary;
use crate::eval::slice::SliceParams;
use crate::numfmt::{format_value, percent, percent_interval, pp};
use crate::stats::interval::from_json;
use crate::viz::visualize::CLASSES;
use crate::Input;

/// What the report shows of the upstream artifacts.
pub struct Options<'a> {
    pub title: &'a str,
    pub seed: u64,
    /// Rows of the error analysis table (the most confident mistakes).
    pub max_errors: usize,
    /// Published numbers shown beside the summary's.
    pub baseline: &'a Baseline,
}

pub fn build(inputs: &[Input], options: &Options) -> Document {
    let of = |kind: &str| inputs.iter().filter(|i| i.kind == kind).collect::<Vec<_>>();
    let listed = listed_slices(&of("slice"));
    Document {
        title: options.title.to_string(),
        sections: [
            summary(inputs, options.baseline),
            per_input("Dataset", &of("split"), |s, i| dataset(s, i, &of("tokenize"))),
            per_input("Training", &of("train"), training),
            per_input("Test metrics", &of("evaluate"), |s, i| test_metrics(s, i, !of("train").is_empty())),
            per_input("Calibration (temperature scaling)", &of("calibrate"), calibration),
            per_input("Slices", &of("slice"), slices),
            per_input("Error analysis", &of("evaluate"), |s, i| {
                errors(s, i, options.max_errors, &slice_order(&listed, i))
            }),
            per_input("Attention, rollout and integrated gradients", &of("visualize"), explanations),
            per_input("Ablations", &of("ablate"), ablations),
            configuration(inputs, options.seed),
        ]
        .into_iter()
        .flatten()
        .collect(),
    }
}

/// A section filled by `fill` once per upstream instance (with a sub-heading
/// each when a matrix gave several); none when there is no such upstream.
fn per_input(title: &str, inputs: &[&Input], fill: impl Fn(&mut Section, &Input)) -> Option<Section> {
    if inputs.is_empty() {
        return None;
    }
    let mut section = Section::new(title);
    for input in inputs {
        if inputs.len() > 1 {
            section.push(Block::Heading(input.instance.clone()));
        }
        fill(&mut section, input);
    }
    Some(section)
}

/// The appendix: every upstream's resolved params.
fn configuration(inputs: &[Input], seed: u64) -> Option<Section> {
    let mut section = Section::new("Appendix: run configuration");
    section
        .push(Block::Paragraph(format!("Pipeline seed: {seed}. Resolved parameters of each upstream stage instance:")));
    if inputs.is_empty() {
        return None;
    }
    for input in inputs {
        section.push(Block::Heading(format!("{} (uses: {})", input.instance, input.kind)));
        let (params, filled) = input.params_as_run();
        section.push(Block::Code(serde_json::to_string_pretty(&params).unwrap_or_else(|_| params.to_string())));
        if !filled.is_empty() {
            let names: Vec<String> = filled.iter().map(|k| format!("`{k}`")).collect();
            section.push(Block::Note(format!(
                "Not set in the pipeline; shown as the stage recorded using it: {}.",
                names.join(", ")
            )));
        }
    }
    Some(section)
}

/// `name` of `input` as JSON; when it is missing or unreadable, a note in `section`
/// saying so and `None`: a report of a partial artifact is still a report.
fn json_or_note(section: &mut Section, input: &Input, name: &str) -> Option<Value> {
    match read_json(input, name) {
        Ok(Some(value)) => Some(value),
        Ok(None) => {
            section.push(Block::Note(format!("`{name}` is missing from `{}`.", input.instance)));
            None
        }
        Err(message) => {
            section.push(Block::Note(message));
            None
        }
    }
}

/// The input's metrics as a table (less `skip`), with `footer` under it.
fn metrics(section: &mut Section, input: &Input, skip: &[&str], footer: Option<&str>) {
    match metrics_table(&input.metrics, skip) {
        Some(table) => section.push(Block::Table(Table { footer: footer.map(str::to_string), ..table })),
        None => section.push(Block::Note(format!("`{}` recorded no metrics.", input.instance))),
    }
}

fn dataset(section: &mut Section, split: &Input, tokenize: &[&Input]) {
    section.push(Block::Paragraph("Rows and label counts per split (HF validation is the test split):".into()));
    metrics(section, split, &[], None);
    for t in tokenize {
        section.push(Block::Paragraph(format!("Token lengths (`{}`):", t.instance)));
        metrics(section, t, &[], None);
    }
}

fn training(section: &mut Section, train: &Input) {
    metrics(section, train, &[], None);
    // The per-epoch records; the per-step ones are in the curves.
    if let Some(history) = json_or_note(section, train, "history.json") {
        match records_table(&kept_epoch(&history)) {
            Some(table) => section.push(Block::Table(table)),
            None => {
                section.push(Block::Note(format!("`history.json` of `{}` has no per-epoch records.", train.instance)))
            }
        }
    }
    figure(section, train, "training_loss.png", "Training and dev loss");
    figure(section, train, "training_acc.png", "Dev accuracy");
}

/// The confusion matrix metric `[[tn, fp], [fn, tp]]` as a labelled table.
fn confusion(metrics: &Value) -> Option<Table> {
    let rows = metrics.get("confusion")?.as_array()?;
    let cells: Vec<Vec<String>> =
        rows.iter().map(|r| r.as_array().map(|r| r.iter().map(format_value).collect())).collect::<Option<_>>()?;
    if cells.len() != 2 || cells.iter().any(|r| r.len() != 2) {
        return None;
    }
    let labels = ["true negative", "true positive"];
    Some(Table {
        header: vec![String::new(), "predicted negative".into(), "predicted positive".into()],
        rows: cells.into_iter().zip(labels).map(|(r, l)| std::iter::once(l.to_string()).chain(r).collect()).collect(),
        footer: None,
    })
}

/// The epochs of `history` with `best` (this epoch improved on the ones before it, so
/// two epochs can say true) replaced by `kept`: whether its weights are the model's.
fn kept_epoch(history: &Value) -> Value {
    let kept = history.get("best_epoch").and_then(Value::as_u64);
    let mut epochs = history.get("epochs").unwrap_or(history).clone();
    for record in epochs.as_array_mut().into_iter().flatten().filter_map(Value::as_object_mut) {
        if record.remove("best").is_some() {
            let epoch = record.get("epoch").and_then(Value::as_u64);
            record.insert("kept".into(), Value::from(if epoch.is_some() && epoch == kept { "yes" } else { "" }));
        }
    }
    epochs
}

fn test_metrics(section: &mut Section, evaluate: &Input, trained: bool) {
    // Two dev accuracies of one model a row or two apart would otherwise look like an error.
    let dev = evaluate.metrics.get("dev_accuracy").map(|_| {
        let scored = "`dev_accuracy`: the dev split scored as this stage scores the test split (float32 products, \
                      int8 with `quantize`).";
        if trained {
            format!(
                "{scored} The Training section's dev accuracy was scored during training, in the training \
                 precision (bf16 under `precision: bf16` or `auto` where it resolves so), and may differ by a few rows."
            )
        } else {
            scored.to_string()
        }
    });
    metrics(section, evaluate, &["confusion"], dev.as_deref());
    match confusion(&evaluate.metrics) {
        Some(table) => section.push(Block::Table(table)),
        None => section.push(Block::Note(format!("`{}` recorded no 2x2 `confusion` metric.", evaluate.instance))),
    }
    if let Some(report) = json_or_note(section, evaluate, "classification_report.json") {
        // Per class, then the macro and support-weighted averages.
        let mut rows = report.get("classes").and_then(Value::as_object).cloned().unwrap_or_default();
        for key in ["macro_avg", "weighted_avg"] {
            if let Some(v) = report.get(key) {
                rows.insert(key.into(), v.clone());
            }
        }
        if let Some(table) = records_table(&Value::Object(rows)) {
            section.push(Block::Paragraph("Per-class report:".into()));
            section.push(Block::Table(table));
        }
        for warning in report.get("warnings").and_then(Value::as_array).into_iter().flatten() {
            section.push(Block::Note(format!("Warning from `{}`: {}", evaluate.instance, format_value(warning))));
        }
    }
    figure(section, evaluate, "confusion_matrix.png", "Confusion matrix (test)");
}

fn calibration(section: &mut Section, calibrate: &Input) {
    let Some(metrics) = calibrate.metrics.as_object() else {
        section.push(Block::Note(format!("`{}` recorded no metrics.", calibrate.instance)));
        return;
    };
    // Each metric `x` has its after-scaling twin `x_scaled`, and either may have an interval `x_ci`.
    let with_ci = |key: &str, value: &Value| {
        let ci = interval_cell(&calibrate.metrics, key);
        if ci.is_empty() {
            format_value(value)
        } else {
            format!("{} {ci}", format_value(value))
        }
    };
    let rows: Vec<Vec<String>> = metrics
        .iter()
        .filter(|(k, _)| !k.ends_with("_scaled") && !k.ends_with("_ci") && !k.ends_with("_scaled_ci"))
        .map(|(k, before)| {
            let scaled = format!("{k}_scaled");
            let after = metrics.get(&scaled).map_or_else(String::new, |v| with_ci(&scaled, v));
            vec![k.clone(), with_ci(k, before), after]
        })
        .collect();
    section.push(Block::Table(Table {
        header: vec!["metric (test)".into(), "before".into(), "after temperature scaling".into()],
        rows,
        footer: Some(
            "The temperature is fitted on the dev split; before/after are on the test split. Brackets: 95% bootstrap \
             intervals over the test set, T held fixed."
                .into(),
        ),
    }));
    figure(section, calibrate, "reliability.png", "Reliability diagram before temperature scaling");
    figure(section, calibrate, "reliability_scaled.png", "Reliability diagram after temperature scaling");
}

fn slices(section: &mut Section, slice: &Input) {
    let json = json_or_note(section, slice, "slices.json");
    let rows = json.and_then(|j| j.get("slices").and_then(Value::as_array).cloned()).unwrap_or_default();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let text = |key: &str| r.get(key).map_or_else(String::new, format_value);
            let number = |key: &str| r.get(key).and_then(Value::as_f64);
            vec![
                text("name"),
                text("n"),
                text("n_positive"),
                number("accuracy").map_or("—".into(), percent),
                r.get("accuracy_ci").and_then(from_json).map_or("—".into(), percent_interval),
                text("f1"),
                number("drop").map_or("—".into(), |d| pp(100.0 * d)),
            ]
        })
        .collect();
    if !rows.is_empty() {
        section.push(Block::Table(Table {
            header: ["slice", "n", "positive", "accuracy", "95% CI", "F1", "drop (pp)"].map(String::from).to_vec(),
            rows,
            footer: Some(
                "Drop: overall accuracy minus the slice's, in percentage points (positive: the slice is harder). \
                 95% CI: bootstrap over the slice's own sentences; a small slice has a wide interval."
                    .into(),
            ),
        }));
    }
    figure(section, slice, "slices.png", "Accuracy per slice with 95% bootstrap intervals");
}

/// The evaluate stage's error analysis (errors.json): counts, mistakes per
/// slice, and the `max` most confident mistakes (the ones most worth reading).
/// The slice names in the slice stage's order (negation, contrast, lengths short to long),
/// for tables keyed by slice; empty without a slice upstream.
/// The slices in the slice stage's order (none without a slice stage).
fn listed_slices(slice: &[&Input]) -> Vec<String> {
    let rows = slice.first().and_then(|s| read_json(s, "slices.json").ok().flatten());
    let rows = rows.as_ref().and_then(|json| json.get("slices")).and_then(Value::as_array);
    rows.into_iter().flatten().filter_map(|r| r.get("name").and_then(Value::as_str).map(String::from)).collect()
}

/// The slices as `listed`; without a slice stage (the ablation pipelines), in the order
/// `evaluate` tagged its mistakes with: negation, contrast, lengths shortest first.
fn slice_order(listed: &[String], evaluate: &Input) -> Vec<String> {
    if !listed.is_empty() {
        return listed.to_vec();
    }
    let spec = evaluate.params.get("slices").and_then(|p| serde_json::from_value::<SliceParams>(p.clone()).ok());
    let buckets = spec.and_then(|p| p.spec().ok()).map(|s| s.bucket_names()).unwrap_or_default();
    ["negation".to_string(), "contrast".to_string()]
        .into_iter()
        .chain(buckets.into_iter().map(|b| format!("length {b}")))
        .collect()
}

fn errors(section: &mut Section, evaluate: &Input, max: usize, order: &[String]) {
    let Some(analysis) = json_or_note(section, evaluate, "errors.json") else { return };
    let count = |key: &str| analysis.get(key).map_or_else(|| "?".into(), format_value);
    section.push(Block::Paragraph(format!(
        "{} of {} test sentences misclassified: {} false positives (negative predicted positive), {} false negatives.",
        count("n_errors"),
        count("n"),
        count("false_positives"),
        count("false_negatives")
    )));
    if let Some(by_slice) = analysis.get("errors_by_slice").and_then(Value::as_object) {
        let mut rows: Vec<Vec<String>> = by_slice.iter().map(|(k, v)| vec![k.clone(), format_value(v)]).collect();
        // Slices the slice stage does not list go last, in name order.
        rows.sort_by_key(|r| order.iter().position(|name| *name == r[0]).unwrap_or(order.len()));
        section.push(Block::Table(Table { header: vec!["slice".into(), "mistakes".into()], rows, footer: None }));
    }
    let rows: Vec<&Value> =
        analysis.get("errors").and_then(Value::as_array).map(|e| e.iter().collect()).unwrap_or_default();
    let shown: Vec<Vec<String>> = rows
        .iter()
        .take(max)
        .map(|e| {
            let cell = |key: &str| e.get(key).map_or_else(String::new, format_value);
            vec![
                cell("rank"),
                cell("idx"),
                cell("text"),
                cell("label"),
                cell("pred"),
                cell("confidence"),
                cell("kind"),
                tags(e.get("tags")),
            ]
        })
        .collect();
    section.push(Block::Table(Table {
        header: ["rank", "idx", "text", "label", "pred", "confidence", "kind", "slices"].map(String::from).to_vec(),
        footer: Some(format!(
            "The {} most confident of {} mistakes (labels: 0 negative, 1 positive).",
            shown.len(),
            rows.len()
        )),
        rows: shown,
    }));
}

/// A mistake's slice tags as text: `negation, length 5-8`.
fn tags(tags: Option<&Value>) -> String {
    let Some(tags) = tags else { return String::new() };
    let mut names: Vec<String> = ["negation", "contrast"]
        .into_iter()
        .filter(|k| tags.get(*k).and_then(Value::as_bool) == Some(true))
        .map(String::from)
        .collect();
    if let Some(length) = tags.get("length").and_then(Value::as_str) {
        names.push(format!("length {length}"));
    }
    names.join(", ")
}

/// Per example the visualize stage chose: its sentence, label and prediction, then its
/// figures, each captioned with what it shows.
fn explanations(section: &mut Section, visualize: &Input) {
    let Some(doc) = json_or_note(section, visualize, "attributions.json") else { return };
    const KINDS: [(&str, &str); 4] = [
        ("attention", "last layer's attention, mean over heads"),
        ("layers", "attention per layer, mean over heads"),
        ("rollout", "attention rollout"),
        ("ig", "integrated gradients toward P(positive): green raises it, red lowers it"),
    ];
    let class = |key: &str, e: &Value| {
        let index = e.get(key).and_then(Value::as_u64).and_then(|c| usize::try_from(c).ok());
        index.and_then(|c| CLASSES.get(c)).copied().unwrap_or("?")
    };
    for example in doc.get("examples").and_then(Value::as_array).into_iter().flatten() {
        let text = |key: &str| example.get(key).map_or_else(|| "?".into(), format_value);
        let name = format!("{} {}", text("category"), text("k"));
        section.push(Block::Paragraph(format!(
            "{name}: \"{}\" (label {}, predicted {} with confidence {}).",
            text("text"),
            class("label", example),
            class("pred", example),
            text("confidence")
        )));
        let files = example.get("figures");
        for (kind, what) in KINDS {
            if let Some(file) = files.and_then(|f| f.get(kind)).and_then(Value::as_str) {
                figure(section, visualize, file, &format!("{name}: {what}"));
            }
        }
    }
}

fn ablations(section: &mut Section, ablate: &Input) {
    let summary = match read_json(ablate, "ablation_summary.json") {
        Ok(Some(value)) => serde_json::from_value::<Summary>(value)
            .map_err(|e| format!("`ablation_summary.json` of `{}` is not an ablation summary: {e}", ablate.instance)),
        Ok(None) => Err(format!("`ablation_summary.json` is missing from `{}`.", ablate.instance)),
        Err(message) => Err(message),
    };
    match &summary {
        Ok(summary) => {
            if let Some(recipe) = ablation::recipe_text(summary) {
                section.push(Block::Paragraph(recipe));
            }
            if summary.has_seeds() {
                section.push(Block::Heading("Over seeds".into()));
                section.push(Block::Table(ablation::seeds_table(summary)));
                section.push(Block::Heading("Per seed".into()));
            }
            section.push(Block::Table(ablation::table(summary)));
        }
        Err(message) => section.push(Block::Note(message.clone())),
    }
    figure(section, ablate, "ablation.png", ablation_chart::caption(summary.as_ref().ok()));
}
