//! The report's first section: the results a reader came for, each with its 95%
//! interval, beside published numbers (the seed report's by default), then what
//! the ablation found and the figures that matter most. Variants that differ only
//! in their seed are one column: mean ± sd over seeds, and the per-seed values.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ablation::{matrix_text, Summary};
use super::artifacts::read_json;
use super::baseline::Baseline;
use super::document::{Block, Section, Table};
use super::figures::figure;
use crate::numfmt::{interval_text, percent, percent_interval, sig, signed};
use crate::stats::interval::{from_json, of_metric};
use crate::stats::{Interval, Spread};
use crate::{Input, SEED_AXIS};

/// One number of one instance, with its interval when it has one.
#[derive(Clone, Copy)]
struct Measure {
    value: f64,
    ci: Option<Interval>,
}

/// How a row shows its numbers: as a percentage (accuracy) or with 4 significant digits.
#[derive(Clone, Copy)]
enum Unit {
    Percent,
    Plain,
}

impl Unit {
    fn value(self, v: f64) -> String {
        match self {
            Unit::Percent => percent(v),
            Unit::Plain => sig(v),
        }
    }

    fn interval(self, ci: Interval) -> String {
        match self {
            Unit::Percent => percent_interval(ci),
            Unit::Plain => interval_text(ci),
        }
    }

    fn sd(self, sd: f64) -> String {
        match self {
            Unit::Percent => format!("{} pp", sig(100.0 * sd)),
            Unit::Plain => sig(sd),
        }
    }
}

/// Instances that differ only in their seed, sorted by seed.
struct Group<'a> {
    name: String,
    members: Vec<&'a Input>,
}

fn configuration(input: &Input) -> BTreeMap<String, Value> {
    input.matrix.iter().filter(|(k, _)| *k != SEED_AXIS).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn seed(input: &Input) -> Option<u64> {
    input.matrix.get(SEED_AXIS).and_then(Value::as_u64)
}

fn groups<'a>(evaluates: &[&'a Input]) -> Vec<Group<'a>> {
    let mut out: Vec<Group> = Vec::new();
    for input in evaluates {
        let name = matrix_text(&configuration(input));
        match out.iter_mut().find(|g| g.name == name) {
            Some(g) => g.members.push(input),
            None => out.push(Group { name, members: vec![input] }),
        }
    }
    for g in &mut out {
        g.members.sort_by_key(|m| seed(m));
    }
    out
}

/// The artifact of `kind` made for the same matrix values as `evaluate`.
fn sibling<'a>(inputs: &'a [Input], kind: &str, evaluate: &Input) -> Option<&'a Input> {
    inputs.iter().find(|i| i.kind == kind && i.matrix == evaluate.matrix)
}

fn measure(input: &Input, key: &str) -> Option<Measure> {
    let value = input.metrics.get(key)?.as_f64()?;
    Some(Measure { value, ci: of_metric(&input.metrics, key) })
}

/// One cell: the value and its interval, or over several seeds mean ± sd and the per-seed values.
fn cell(measures: &[Option<Measure>], seeds: &[Option<u64>], unit: Unit) -> String {
    let found: Vec<Measure> = measures.iter().flatten().copied().collect();
    if found.len() != measures.len() || found.is_empty() {
        return "—".into();
    }
    if let [one] = found.as_slice() {
        return match one.ci {
            Some(ci) => format!("{} {}", unit.value(one.value), unit.interval(ci)),
            None => unit.value(one.value),
        };
    }
    let spread = Spread::of(found.iter().map(|m| m.value).collect()).expect("several values");
    let per_seed: Vec<String> = seeds
        .iter()
        .zip(&found)
        .map(|(s, m)| format!("{}: {}", s.map_or("?".into(), |s| s.to_string()), unit.value(m.value)))
        .collect();
    format!("{} ± {} (seed {})", unit.value(spread.mean), unit.sd(spread.sd.unwrap_or(0.0)), per_seed.join(", "))
}

fn before_after(before: String, after: String) -> String {
    if before == "—" && after == "—" {
        before
    } else {
        format!("{before} → {after}")
    }
}

/// The slice with the largest mean drop over a group's members: its name, drop per member and
/// accuracy per member.
struct SliceDrop {
    name: String,
    /// Sentences in the slice (of the first member): a drop on a handful of them means little.
    n: Option<u64>,
    drops: Vec<Option<Measure>>,
    accuracies: Vec<Option<Measure>>,
}

fn largest_drop(group: &Group, inputs: &[Input]) -> Option<SliceDrop> {
    let rows: Vec<Vec<Value>> = group
        .members
        .iter()
        .map(|e| {
            let slice = sibling(inputs, "slice", e)?;
            let json = read_json(slice, "slices.json").ok()??;
            Some(json.get("slices")?.as_array()?.clone())
        })
        .collect::<Option<_>>()?;
    let of = |rows: &[Value], name: &str, field: &str| {
        let row = rows.iter().find(|r| r.get("name").and_then(Value::as_str) == Some(name))?;
        let value = row.get(field)?.as_f64()?;
        let ci = if field == "accuracy" { row.get("accuracy_ci").and_then(from_json) } else { None };
        Some(Measure { value, ci })
    };
    let names: Vec<String> = rows[0]
        .iter()
        .filter(|r| r.get("complement").and_then(Value::as_bool) == Some(false))
        .filter_map(|r| Some(r.get("name")?.as_str()?.to_string()))
        .collect();
    let mean_drop =
        |name: &str| rows.iter().map(|r| of(r, name, "drop").map_or(f64::NEG_INFINITY, |m| m.value)).sum::<f64>();
    let name = names.into_iter().max_by(|a, b| mean_drop(a).total_cmp(&mean_drop(b)))?;
    let drops = rows.iter().map(|r| of(r, &name, "drop")).collect();
    let accuracies = rows.iter().map(|r| of(r, &name, "accuracy")).collect();
    let n = rows[0]
        .iter()
        .find(|r| r.get("name").and_then(Value::as_str) == Some(&name))
        .and_then(|r| r.get("n")?.as_u64());
    Some(SliceDrop { name, n, drops, accuracies })
}

pub fn summary(inputs: &[Input], baseline: &Baseline) -> Option<Section> {
    let evaluates: Vec<&Input> = inputs.iter().filter(|i| i.kind == "evaluate").collect();
    let ablates: Vec<&Input> = inputs.iter().filter(|i| i.kind == "ablate").collect();
    if evaluates.is_empty() && ablates.is_empty() {
        return None;
    }
    let mut section = Section::new("Summary");
    let groups = groups(&evaluates);
    if !groups.is_empty() {
        section.push(Block::Table(results_table(&groups, inputs, baseline)));
        if let Some(n) = evaluates[0].metrics.get("n").and_then(Value::as_u64) {
            let width = measure(evaluates[0], "accuracy").and_then(|m| m.ci).map(|[lo, hi]| 100.0 * (hi - lo));
            let width = width.map_or(String::new(), |w| format!(" The 95% interval of accuracy spans {} pp.", sig(w)));
            section.push(Block::Paragraph(format!(
                "Test split: n = {n} sentences; one sentence is {} pp.{width} Whether two models differ on this \
                 split is decided by a paired test on the same sentences (the ablate stage), not by comparing \
                 their intervals.",
                sig(100.0 / n as f64)
            )));
        }
    }
    for ablate in ablates {
        ablation_findings(&mut section, ablate);
    }
    for slice in inputs.iter().filter(|i| i.kind == "slice").take(1) {
        figure(&mut section, slice, "slices.png", "Accuracy per slice with 95% bootstrap intervals");
    }
    Some(section)
}

fn results_table(groups: &[Group], inputs: &[Input], baseline: &Baseline) -> Table {
    let mut header = vec![String::new()];
    header.extend(groups.iter().map(|g| if g.name.is_empty() { "this run".to_string() } else { g.name.clone() }));
    header.push(baseline.label.clone());
    let mut rows = Vec::new();
    // A row none of our columns can fill (no calibrate, no slice, Wilson over seeds) is left out.
    let mut row = |label: &str, cells: Vec<String>, theirs: Option<String>| {
        if cells.iter().all(|c| c == "—") {
            return;
        }
        let mut r = vec![label.to_string()];
        r.extend(cells);
        r.push(theirs.unwrap_or_else(|| "—".into()));
        rows.push(r);
    };
    let per_group = |kind: &str, key: &str, unit: Unit| -> Vec<String> {
        groups
            .iter()
            .map(|g| {
                let measures: Vec<Option<Measure>> = g
                    .members
                    .iter()
                    .map(|e| {
                        if kind == "evaluate" { Some(*e) } else { sibling(inputs, kind, e) }
                            .and_then(|i| measure(i, key))
                    })
                    .collect();
                cell(&measures, &g.members.iter().map(|m| seed(m)).collect::<Vec<_>>(), unit)
            })
            .collect()
    };
    let theirs = |v: Option<f64>, unit: Unit| v.map(|v| unit.value(v));
    row("test accuracy", per_group("evaluate", "accuracy", Unit::Percent), theirs(baseline.accuracy, Unit::Percent));
    let wilson: Vec<String> = groups
        .iter()
        .map(|g| match g.members.as_slice() {
            [one] => one.metrics.get("accuracy_wilson").and_then(from_json).map_or("—".into(), percent_interval),
            _ => "—".into(),
        })
        .collect();
    row("accuracy, Wilson 95% interval", wilson, None);
    row("F1 (positive class)", per_group("evaluate", "f1", Unit::Plain), theirs(baseline.f1, Unit::Plain));
    row("macro-F1", per_group("evaluate", "macro_f1", Unit::Plain), None);
    let pairs = |key: &str| {
        per_group("calibrate", key, Unit::Plain)
            .into_iter()
            .zip(per_group("calibrate", &format!("{key}_scaled"), Unit::Plain))
            .map(|(b, a)| before_after(b, a))
            .collect()
    };
    row("ECE (15 bins), before → after temperature scaling", pairs("ece"), theirs(baseline.ece, Unit::Plain));
    row("Brier, before → after temperature scaling", pairs("brier"), theirs(baseline.brier, Unit::Plain));
    let drops: Vec<String> = groups
        .iter()
        .map(|g| match largest_drop(g, inputs) {
            Some(SliceDrop { name, n, drops, accuracies }) => {
                let seeds: Vec<Option<u64>> = g.members.iter().map(|m| seed(m)).collect();
                let pp: Vec<Option<Measure>> =
                    drops.iter().map(|d| d.map(|m| Measure { value: 100.0 * m.value, ci: None })).collect();
                let n = n.map_or(String::new(), |n| format!(" (n {n})"));
                format!(
                    "{name}{n}: {} (drop {} pp)",
                    cell(&accuracies, &seeds, Unit::Percent),
                    cell(&pp, &seeds, Unit::Plain)
                )
            }
            None => "—".into(),
        })
        .collect();
    row("slice with the largest accuracy drop", drops, None);
    Table {
        header,
        rows,
        footer: Some(
            "Test split. Brackets: 95% bootstrap percentile intervals (1,000 resamples of the test set); over several \
             seeds, mean ± sample sd and the per-seed values. The published numbers are point estimates."
                .into(),
        ),
    }
}

/// One line per compared configuration: its difference from the reference, the interval and the verdict.
fn ablation_findings(section: &mut Section, ablate: &Input) {
    let Some(summary) = read_json(ablate, "ablation_summary.json")
        .ok()
        .flatten()
        .and_then(|v| serde_json::from_value::<Summary>(v).ok())
    else {
        return;
    };
    let seeds = summary.has_seeds();
    let mut lines = Vec::new();
    for a in summary.aggregates.iter().filter(|a| !a.reference) {
        let delta = match a.delta_accuracy_pp.sd.filter(|_| seeds) {
            Some(sd) => format!("{} ± {} pp over {} seeds", signed(a.delta_accuracy_pp.mean), sig(sd), a.seeds.len()),
            None => format!("{} pp", signed(a.delta_accuracy_pp.mean)),
        };
        let ci = a.delta_ci_pp.map_or(String::new(), |[lo, hi]| format!(", 95% CI [{}, {}]", signed(lo), signed(hi)));
        let p = if seeds {
            String::new()
        } else {
            let row = summary.rows.iter().find(|r| !r.reference && matrix_text(&r.matrix) == matrix_text(&a.matrix));
            row.and_then(|r| r.mcnemar).map_or(String::new(), |m| format!(", McNemar p = {}", sig(m.p_value)))
        };
        let verdict = a.verdict.map_or("", |v| v.text());
        lines.push(format!("{}: {delta}{ci}{p}: {verdict}.", matrix_text(&a.matrix)));
    }
    section.push(Block::Paragraph(format!(
        "Ablations against {} (accuracy {}):",
        matrix_text(&summary.reference),
        summary.aggregates.iter().find(|a| a.reference).map_or("—".into(), |a| percent(a.accuracy.mean))
    )));
    section.push(Block::List(lines));
    figure(section, ablate, "ablation.png", "Test accuracy against the reference, with 95% paired-bootstrap intervals");
}
