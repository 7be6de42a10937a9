//! The report's first section: the results a reader came for, each with its 95%
//! interval, beside published numbers (the seed report's by default), then what
//! the ablation found and the figures that matter most. Variants that differ only
//! in their seed are one column: mean ± sd over seeds, and the per-seed values.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ablation::{matrix_text, Summary};
use super::ablation_chart;
use super::artifacts::read_json;
use super::baseline::Baseline;
use super::document::{Block, Section, Table};
use super::figures::figure;
use crate::numfmt::{interval_text, percent, percent_interval, pp, pp_interval, pp_size, sig};
use crate::stats::interval::{from_json, of_metric};
use crate::stats::{Interval, Spread};
use crate::{Input, SEED_AXIS};

/// One number of one instance, with its interval when it has one.
#[derive(Clone, Copy)]
struct Measure {
    value: f64,
    ci: Option<Interval>,
}

/// How a row shows its numbers: as a percentage (accuracy), in percentage points (a
/// difference of accuracies), or with 4 significant digits.
#[derive(Clone, Copy)]
enum Unit {
    Percent,
    Points,
    Plain,
}

impl Unit {
    fn value(self, v: f64) -> String {
        match self {
            Unit::Percent => percent(v),
            Unit::Points => pp_size(v),
            Unit::Plain => sig(v),
        }
    }

    fn interval(self, ci: Interval) -> String {
        match self {
            Unit::Percent => percent_interval(ci),
            Unit::Points => pp_interval(ci),
            Unit::Plain => interval_text(ci),
        }
    }

    fn sd(self, sd: f64) -> String {
        match self {
            Unit::Percent => format!("{} pp", pp_size(100.0 * sd)),
            Unit::Points => pp_size(sd),
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

/// The headline slice of a group: its name, drop per member and accuracy per member.
struct SliceDrop {
    name: String,
    /// Sentences in the slice (of the first member): a drop on a handful of them means little.
    n: Option<u64>,
    drops: Vec<Option<Measure>>,
    accuracies: Vec<Option<Measure>>,
    /// The slice's accuracy interval lies wholly below the overall accuracy in every member.
    separated: bool,
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
    headline_slice(&rows)
}

fn slice_row<'a>(rows: &'a [Value], name: &str) -> Option<&'a Value> {
    rows.iter().find(|r| r.get("name").and_then(Value::as_str) == Some(name))
}

fn slice_drop(row: Option<&Value>) -> Option<Measure> {
    Some(Measure { value: row?.get("drop")?.as_f64()?, ci: None })
}

fn slice_accuracy(row: Option<&Value>) -> Option<Measure> {
    let row = row?;
    Some(Measure { value: row.get("accuracy")?.as_f64()?, ci: row.get("accuracy_ci").and_then(from_json) })
}

/// The slice's accuracy interval lies wholly below the overall accuracy (slice accuracy + drop,
/// the slice stage's definition of the drop).
fn below_overall(row: Option<&Value>) -> bool {
    match (slice_accuracy(row), slice_drop(row)) {
        (Some(Measure { value, ci: Some([_, hi]) }), Some(drop)) => hi < value + drop.value,
        _ => false,
    }
}

/// Among slices (not complements) whose accuracy interval lies wholly below the overall
/// accuracy in every member, the one with the largest mean drop: a drop whose interval holds
/// the overall accuracy (one mistake in five sentences) is no finding. When no slice is
/// separated, the largest drop of all, marked so. `rows`: each member's slices.json rows.
fn headline_slice(rows: &[Vec<Value>]) -> Option<SliceDrop> {
    let names: Vec<&str> = rows[0]
        .iter()
        .filter(|r| r.get("complement").and_then(Value::as_bool) == Some(false))
        .filter_map(|r| r.get("name")?.as_str())
        .collect();
    let mean_drop = |name: &str| {
        rows.iter().map(|r| slice_drop(slice_row(r, name)).map_or(f64::NEG_INFINITY, |m| m.value)).sum::<f64>()
    };
    let largest = |names: &mut dyn Iterator<Item = &str>| -> Option<String> {
        names.max_by(|a, b| mean_drop(a).total_cmp(&mean_drop(b))).map(String::from)
    };
    let mut separated = names.iter().copied().filter(|name| rows.iter().all(|r| below_overall(slice_row(r, name))));
    let (name, separated) = match largest(&mut separated) {
        Some(name) => (name, true),
        None => (largest(&mut names.iter().copied())?, false),
    };
    Some(SliceDrop {
        n: slice_row(&rows[0], &name).and_then(|r| r.get("n")?.as_u64()),
        drops: rows.iter().map(|r| slice_drop(slice_row(r, &name))).collect(),
        accuracies: rows.iter().map(|r| slice_accuracy(slice_row(r, &name))).collect(),
        name,
        separated,
    })
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
            // With several instances, say whose interval this is: widths differ between them.
            let whose = if evaluates.len() > 1 { format!(" of `{}`", evaluates[0].instance) } else { String::new() };
            let width = width
                .map_or(String::new(), |w| format!(" The 95% interval of accuracy{whose} spans {} pp.", pp_size(w)));
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
    // The mark points at the footer's note on how the published Brier was made comparable.
    let brier_note = baseline.brier_note();
    let mark = if brier_note.is_some() { " †" } else { "" };
    let their_brier = theirs(baseline.brier, Unit::Plain).map(|b| format!("{b}{mark}"));
    row("Brier (binary), before → after temperature scaling", pairs("brier"), their_brier);
    let drops: Vec<String> = groups
        .iter()
        .map(|g| match largest_drop(g, inputs) {
            Some(SliceDrop { name, n, drops, accuracies, separated }) => {
                let seeds: Vec<Option<u64>> = g.members.iter().map(|m| seed(m)).collect();
                let pp: Vec<Option<Measure>> =
                    drops.iter().map(|d| d.map(|m| Measure { value: 100.0 * m.value, ci: None })).collect();
                let n = n.map_or(String::new(), |n| format!(" (n {n})"));
                let slice = format!(
                    "{name}{n}: {} (drop {} pp)",
                    cell(&accuracies, &seeds, Unit::Percent),
                    cell(&pp, &seeds, Unit::Points)
                );
                if separated {
                    slice
                } else {
                    format!(
                        "none: no slice's interval lies below the overall accuracy; the largest drop, {slice}, is \
                         not significant"
                    )
                }
            }
            None => "—".into(),
        })
        .collect();
    let sliced = drops.iter().any(|d| d != "—");
    row("slice with the largest significant accuracy drop", drops, None);
    // The note explains only what the table shows: brackets need a single-seed column,
    // the slice rule a slice row.
    let seeds = groups.iter().any(|g| g.members.len() > 1);
    let mut footer = "Test split.".to_string();
    if groups.iter().any(|g| g.members.len() == 1) {
        footer += " Brackets: 95% bootstrap percentile intervals (1,000 resamples of the test set).";
    }
    if seeds {
        footer += " Over several seeds: mean ± sample sd and the per-seed values.";
    }
    if sliced {
        footer += " A slice's drop is significant when its accuracy's interval lies wholly below the overall accuracy";
        footer += if seeds { " under every seed." } else { "." };
    }
    footer += " The published numbers are point estimates.";
    if let Some(note) = brier_note {
        footer += &format!(" † {note}");
    }
    Table { header, rows, footer: Some(footer) }
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
            Some(sd) => format!("{} ± {} pp over {} seeds", pp(a.delta_accuracy_pp.mean), pp_size(sd), a.seeds.len()),
            None => format!("{} pp", pp(a.delta_accuracy_pp.mean)),
        };
        let over = if seeds { " over sentences" } else { "" };
        let ci = a.delta_ci_pp.map_or(String::new(), |ci| format!(", 95% CI{over} {}", pp_interval(ci)));
        let seed_ci = a.seed_ci_pp.map_or(String::new(), |ci| format!(", over seeds {}", pp_interval(ci)));
        let p = if seeds {
            String::new()
        } else {
            let row = summary.rows.iter().find(|r| !r.reference && matrix_text(&r.matrix) == matrix_text(&a.matrix));
            row.and_then(|r| r.mcnemar).map_or(String::new(), |m| format!(", McNemar p = {}", sig(m.p_value)))
        };
        let verdict = a.verdict.map_or("", |v| v.text());
        lines.push(format!("{}: {delta}{ci}{seed_ci}{p}: {verdict}.", matrix_text(&a.matrix)));
    }
    section.push(Block::Paragraph(format!(
        "Ablations against {} (accuracy {}):",
        matrix_text(&summary.reference),
        summary.aggregates.iter().find(|a| a.reference).map_or("—".into(), |a| percent(a.accuracy.mean))
    )));
    section.push(Block::List(lines));
    figure(section, ablate, "ablation.png", ablation_chart::caption(Some(&summary)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A slices.json row; overall accuracy = accuracy + drop.
    fn row(name: &str, n: u64, accuracy: f64, ci: [f64; 2], drop: f64) -> Value {
        json!({"name": name, "complement": false, "n": n, "accuracy": accuracy, "accuracy_ci": ci, "drop": drop})
    }

    #[test]
    fn a_drop_whose_interval_holds_the_overall_accuracy_is_not_the_headline() {
        // Overall 0.83. Two mistakes in 5 sentences drop most, but that interval holds 0.83.
        let short = row("length <=4", 5, 0.6, [0.2, 1.0], 0.23);
        let negation = row("negation", 150, 0.74, [0.67, 0.81], 0.09);
        let complement = json!({"name": "no negation", "complement": true, "n": 700, "accuracy": 0.5,
            "accuracy_ci": [0.4, 0.6], "drop": 0.33});
        let picked = headline_slice(&[vec![short.clone(), negation, complement]]).unwrap();
        assert_eq!((picked.name.as_str(), picked.n, picked.separated), ("negation", Some(150), true));

        // None separated: the largest drop, marked as such.
        let negation = row("negation", 150, 0.80, [0.73, 0.87], 0.03);
        let picked = headline_slice(&[vec![short, negation]]).unwrap();
        assert_eq!((picked.name.as_str(), picked.n, picked.separated), ("length <=4", Some(5), false));
    }

    #[test]
    fn over_seeds_a_slice_must_lie_below_the_overall_accuracy_under_every_seed() {
        // Negation drops more on average but is clear of 0.83 under seed 1 only.
        let seed_1 =
            vec![row("negation", 150, 0.74, [0.67, 0.81], 0.09), row("contrast", 90, 0.78, [0.70, 0.82], 0.05)];
        let seed_2 =
            vec![row("negation", 150, 0.80, [0.73, 0.87], 0.03), row("contrast", 90, 0.77, [0.69, 0.82], 0.06)];
        let picked = headline_slice(&[seed_1, seed_2]).unwrap();
        assert_eq!((picked.name.as_str(), picked.separated), ("contrast", true));
        assert_eq!(picked.drops.iter().map(|d| d.unwrap().value).collect::<Vec<_>>(), [0.05, 0.06]);
    }
}
