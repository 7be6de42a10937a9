//! The ablation summary: every gathered variant against the reference variant on
//! the same test sentences, and, when the matrix has a `seed` axis, each
//! configuration aggregated over its seeds.
//!
//! Per variant (one seed): the accuracy difference from the reference in
//! percentage points, its 95% paired-bootstrap interval (the test sentences
//! resampled as pairs, so both models see the same set), McNemar's exact test on
//! the discordant sentences, and a verdict: `better` or `worse` when McNemar's p <
//! 0.05, else "no detectable difference" at this test size.
//!
//! Per configuration over seeds: mean ± sd and the per-seed values of accuracy, F1,
//! ECE and the difference (each seed compared with the reference under the same
//! seed); the paired-bootstrap interval of the seed-averaged difference (each
//! sentence scored by the share of seeds that got it right), which says how much the
//! test sentences move it; and the 95% t-interval of the mean of the per-seed
//! differences (n - 1 degrees of freedom), which says how much the seeds move it.
//! The verdict is `better` or `worse` only when both intervals exclude 0 on the same
//! side; when the bootstrap interval does and the seed interval does not, the
//! difference is not separated from seed-to-seed variation. With one seed there is
//! no seed interval and the bootstrap interval alone decides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::document::Table;
use crate::numfmt::{percent, percent_interval, pp, pp_interval, pp_size, sig};
use crate::stats::bootstrap::{Bootstrap, Statistic};
use crate::stats::mcnemar::mcnemar;
use crate::stats::{Interval, McNemar, Spread};
use crate::{StageError, SEED_AXIS};

/// Significance level of the verdicts.
const ALPHA: f64 = 0.05;

/// What was measured for one variant, before comparing.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub instance: String,
    pub matrix: BTreeMap<String, Value>,
    pub accuracy: f64,
    pub accuracy_ci: Option<Interval>,
    pub f1: f64,
    pub ece: Option<f64>,
    pub dev_loss: Option<f64>,
    /// Per test sentence, in split order: was the prediction right.
    pub correct: Vec<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    NoDetectableDifference,
    /// Clear of 0 over the test sentences, not over the seeds.
    NotSeparatedFromSeedVariation,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NoDetectableDifference => "no detectable difference at this test size",
            Verdict::NotSeparatedFromSeedVariation => "not separated from seed-to-seed variation",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub instance: String,
    pub matrix: BTreeMap<String, Value>,
    pub accuracy: f64,
    pub accuracy_ci: Option<Interval>,
    pub correct: u64,
    pub n: u64,
    pub f1: f64,
    pub ece: Option<f64>,
    pub dev_loss: Option<f64>,
    /// Against the reference variant of the same seed.
    pub delta_accuracy_pp: f64,
    pub delta_f1_pp: f64,
    /// 95% paired-bootstrap interval of `delta_accuracy_pp`; `None` for a reference row.
    pub delta_ci_pp: Option<Interval>,
    pub mcnemar: Option<McNemar>,
    pub verdict: Option<Verdict>,
    /// Competition rank on test accuracy among the variants of its seed (1 = best; tied
    /// variants share a rank).
    pub rank: usize,
    /// Another variant has exactly the same test accuracy.
    pub tied: bool,
    pub reference: bool,
}

/// One configuration (matrix values without the seed) over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub matrix: BTreeMap<String, Value>,
    /// The seeds, in the order of the per-seed values (empty without a seed axis).
    pub seeds: Vec<u64>,
    pub accuracy: Spread,
    pub f1: Spread,
    pub ece: Option<Spread>,
    pub delta_accuracy_pp: Spread,
    /// 95% paired-bootstrap interval of the seed-averaged difference; `None` for the reference.
    pub delta_ci_pp: Option<Interval>,
    /// 95% t-interval of the mean of the per-seed differences; `None` for the reference and
    /// for one seed.
    pub seed_ci_pp: Option<Interval>,
    pub verdict: Option<Verdict>,
    /// Competition rank on mean test accuracy.
    pub rank: usize,
    pub reference: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The `reference:` matrix values as given.
    pub reference: BTreeMap<String, Value>,
    /// The reference instances (one per seed).
    pub reference_instances: Vec<String>,
    /// Test sentences, and what one of them is worth in pp.
    pub n: u64,
    pub single_example_pp: f64,
    /// Best first; ties in instance-name order.
    pub rows: Vec<Row>,
    /// Best mean first; one per configuration (one per row without a seed axis).
    pub aggregates: Vec<Aggregate>,
    /// The train params every variant ran with (as trained: a param left unset shows
    /// the value the stage used): what the comparison held fixed. Empty when `train`
    /// was not gathered.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recipe: BTreeMap<String, Value>,
}

impl Summary {
    /// Every matrix key of any variant, sorted: the variant columns of the tables.
    pub fn matrix_keys(&self) -> Vec<String> {
        let keys: std::collections::BTreeSet<&String> = self.rows.iter().flat_map(|r| r.matrix.keys()).collect();
        keys.into_iter().cloned().collect()
    }

    /// True when some configuration ran under more than one seed.
    pub fn has_seeds(&self) -> bool {
        self.aggregates.iter().any(|a| a.seeds.len() > 1)
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

/// The matrix values without the seed: what identifies a configuration.
fn configuration(matrix: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    matrix.iter().filter(|(k, _)| *k != SEED_AXIS).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn seed_of(matrix: &BTreeMap<String, Value>) -> Option<u64> {
    matrix.get(SEED_AXIS).and_then(Value::as_u64)
}

/// Variant minus reference in pp, per sentence scores in [0, 1] (the share of seeds right).
fn paired_delta_ci(bootstrap: &Bootstrap, pairs: &[(f64, f64)]) -> Option<Interval> {
    let delta: Statistic<(f64, f64)> = &|s: &[(f64, f64)]| {
        (!s.is_empty())
            .then(|| 100.0 * s.iter().map(|(reference, variant)| variant - reference).sum::<f64>() / s.len() as f64)
    };
    bootstrap.interval(pairs, delta)
}

fn as_score(correct: bool) -> f64 {
    if correct {
        1.0
    } else {
        0.0
    }
}

/// The variants (instance name, matrix values) that `reference` picks, by index: one
/// configuration, under each of its seeds. Anything else is a param error listing them.
pub fn reference_variants(
    reference: &BTreeMap<String, Value>,
    variants: &[(&str, &BTreeMap<String, Value>)],
) -> Result<Vec<usize>, StageError> {
    let listing = || variants.iter().map(|(name, _)| format!("`{name}`")).collect::<Vec<_>>().join(", ");
    if reference.is_empty() {
        return Err(StageError::param(
            "reference",
            format!(
                "give the matrix values of the reference variant, e.g. {{pooling: cls, dropout: 0.1}}; variants: {}",
                listing()
            ),
        ));
    }
    let hits: Vec<usize> = (0..variants.len()).filter(|&i| matches(reference, variants[i].1)).collect();
    if hits.is_empty() {
        return Err(StageError::param(
            "reference",
            format!("no variant has {}; variants: {}", matrix_text(reference), listing()),
        ));
    }
    let configurations: std::collections::BTreeSet<String> =
        hits.iter().map(|&i| matrix_text(&configuration(variants[i].1))).collect();
    if configurations.len() > 1 {
        let names = hits.iter().map(|&i| format!("`{}`", variants[i].0)).collect::<Vec<_>>().join(", ");
        return Err(StageError::param(
            "reference",
            format!("{} matches several variants ({names}); add matrix keys to pick one", matrix_text(reference)),
        ));
    }
    Ok(hits)
}

/// Compares every variant with the reference of its seed; `bootstrap` draws the
/// resampled test sets (the same for every comparison).
pub fn summarize(
    measured: Vec<Measured>,
    reference: &BTreeMap<String, Value>,
    bootstrap: &Bootstrap,
) -> Result<Summary, StageError> {
    if measured.is_empty() {
        return Err(StageError::Input("ablate: no upstream `evaluate` artifacts were gathered".into()));
    }
    let variants: Vec<(&str, &BTreeMap<String, Value>)> =
        measured.iter().map(|m| (m.instance.as_str(), &m.matrix)).collect();
    let hits: Vec<&Measured> = reference_variants(reference, &variants)?.into_iter().map(|i| &measured[i]).collect();
    let n = measured[0].correct.len();
    if let Some(m) = measured.iter().find(|m| m.correct.len() != n) {
        return Err(StageError::Input(format!(
            "ablate: `{}` scored {} test sentences but `{}` scored {n}; variants must share one test split",
            m.instance,
            m.correct.len(),
            measured[0].instance
        )));
    }
    let reference_of = |m: &Measured| -> Result<&Measured, StageError> {
        hits.iter().copied().find(|r| seed_of(&r.matrix) == seed_of(&m.matrix)).ok_or_else(|| {
            StageError::Input(format!(
                "ablate: the reference {} has no variant under the seed of `{}`",
                matrix_text(reference),
                m.instance
            ))
        })
    };

    // Ranks compare variants under one seed, as the differences do: a rank across seeds
    // would set a variant against another seed's reference.
    let same_seed = |m: &Measured| {
        let seed = seed_of(&m.matrix);
        measured.iter().filter(move |o| seed_of(&o.matrix) == seed)
    };
    let mut rows = Vec::with_capacity(measured.len());
    for m in &measured {
        let base = reference_of(m)?;
        let is_reference = std::ptr::eq(base, m);
        let pairs: Vec<(f64, f64)> =
            base.correct.iter().zip(&m.correct).map(|(&r, &v)| (as_score(r), as_score(v))).collect();
        let test = (!is_reference).then(|| mcnemar(base.correct.iter().copied().zip(m.correct.iter().copied())));
        let delta = (m.accuracy - base.accuracy) * 100.0;
        rows.push(Row {
            instance: m.instance.clone(),
            matrix: m.matrix.clone(),
            accuracy: m.accuracy,
            accuracy_ci: m.accuracy_ci,
            correct: m.correct.iter().filter(|&&c| c).count() as u64,
            n: n as u64,
            f1: m.f1,
            ece: m.ece,
            dev_loss: m.dev_loss,
            delta_accuracy_pp: delta,
            delta_f1_pp: (m.f1 - base.f1) * 100.0,
            delta_ci_pp: if is_reference { None } else { paired_delta_ci(bootstrap, &pairs) },
            verdict: test.map(|t| match t.p_value < ALPHA {
                true if delta > 0.0 => Verdict::Better,
                true => Verdict::Worse,
                false => Verdict::NoDetectableDifference,
            }),
            mcnemar: test,
            rank: 1 + same_seed(m).filter(|o| o.accuracy > m.accuracy).count(),
            tied: same_seed(m).filter(|o| o.accuracy == m.accuracy).count() > 1,
            reference: is_reference,
        });
    }
    rows.sort_by(|a, b| {
        (seed_of(&a.matrix), a.rank).cmp(&(seed_of(&b.matrix), b.rank)).then_with(|| a.instance.cmp(&b.instance))
    });
    let aggregates = aggregate(&measured, &rows, &hits, bootstrap);
    Ok(Summary {
        reference: reference.clone(),
        reference_instances: hits.iter().map(|m| m.instance.clone()).collect(),
        n: n as u64,
        single_example_pp: if n == 0 { 0.0 } else { 100.0 / n as f64 },
        rows,
        aggregates,
        recipe: BTreeMap::new(),
    })
}

/// "Every variant trained with: epochs 3, lr 0.00002, …": the recipe in one sentence.
pub fn recipe_text(summary: &Summary) -> Option<String> {
    if summary.recipe.is_empty() {
        return None;
    }
    let params: Vec<String> = summary.recipe.iter().map(|(k, v)| format!("{k} {}", value_text(v))).collect();
    Some(format!("Every variant trained with: {}.", params.join(", ")))
}

/// A configuration's matrix values and its variants (one per seed), measured and tabulated.
type Group<'a> = (BTreeMap<String, Value>, Vec<(&'a Measured, &'a Row)>);

/// One aggregate per configuration, over its seeds (in seed order).
fn aggregate(measured: &[Measured], rows: &[Row], references: &[&Measured], bootstrap: &Bootstrap) -> Vec<Aggregate> {
    // Keyed by the configuration's text (JSON values have no order of their own).
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for m in measured {
        let row = rows.iter().find(|r| r.instance == m.instance).expect("one row per measured variant");
        let config = configuration(&m.matrix);
        groups.entry(matrix_text(&config)).or_insert_with(|| (config, Vec::new())).1.push((m, row));
    }
    let mut out: Vec<Aggregate> = groups
        .into_values()
        .map(|(matrix, mut members)| {
            members.sort_by_key(|(m, _)| seed_of(&m.matrix));
            let spread = |f: &dyn Fn(&Row) -> f64| {
                Spread::of(members.iter().map(|(_, r)| f(r)).collect()).expect("a group has members")
            };
            let is_reference = members.iter().all(|(_, r)| r.reference);
            let deltas = spread(&|r| r.delta_accuracy_pp);
            // Each sentence scored by the share of this configuration's seeds that got it right.
            let share = |group: &[&Measured], i: usize| {
                group.iter().filter(|m| m.correct[i]).count() as f64 / group.len() as f64
            };
            let variant: Vec<&Measured> = members.iter().map(|(m, _)| *m).collect();
            let base: Vec<&Measured> = variant
                .iter()
                .filter_map(|v| references.iter().copied().find(|r| seed_of(&r.matrix) == seed_of(&v.matrix)))
                .collect();
            let n = variant[0].correct.len();
            let pairs: Vec<(f64, f64)> = (0..n).map(|i| (share(&base, i), share(&variant, i))).collect();
            let delta_ci = (!is_reference).then(|| paired_delta_ci(bootstrap, &pairs)).flatten();
            let seed_ci = (!is_reference).then(|| deltas.mean_interval()).flatten();
            // One seed: the verdict of its row (McNemar), as the tables state it; an interval
            // clear of zero with p >= 0.05 would otherwise be "better" here and not in the row.
            let verdict = match members.as_slice() {
                [(_, row)] => row.verdict,
                _ => (!is_reference).then(|| verdict_over_seeds(delta_ci, seed_ci)),
            };
            let eces: Option<Vec<f64>> = members.iter().map(|(_, r)| r.ece).collect();
            Aggregate {
                matrix,
                seeds: members.iter().filter_map(|(m, _)| seed_of(&m.matrix)).collect(),
                accuracy: spread(&|r| r.accuracy),
                f1: spread(&|r| r.f1),
                ece: eces.and_then(Spread::of),
                delta_accuracy_pp: deltas,
                delta_ci_pp: delta_ci,
                seed_ci_pp: seed_ci,
                verdict,
                rank: 0,
                reference: is_reference,
            }
        })
        .collect();
    let means: Vec<f64> = out.iter().map(|a| a.accuracy.mean).collect();
    for a in &mut out {
        a.rank = 1 + means.iter().filter(|&&m| m > a.accuracy.mean).count();
    }
    out.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| matrix_text(&a.matrix).cmp(&matrix_text(&b.matrix))));
    out
}

/// The side of 0 an interval lies wholly on: `Better` above, `Worse` below, `None` across it.
fn side(ci: Interval) -> Option<Verdict> {
    match ci {
        [lo, _] if lo > 0.0 => Some(Verdict::Better),
        [_, hi] if hi < 0.0 => Some(Verdict::Worse),
        _ => None,
    }
}

/// Better or worse only when the sentences' interval and (given several seeds) the
/// seeds' interval both lie on that side of 0.
fn verdict_over_seeds(sentences: Option<Interval>, seeds: Option<Interval>) -> Verdict {
    match (sentences.and_then(side), seeds.map(side)) {
        (None, _) => Verdict::NoDetectableDifference,
        (Some(v), None) => v,
        (Some(v), Some(s)) if s == Some(v) => v,
        (Some(_), Some(_)) => Verdict::NotSeparatedFromSeedVariation,
    }
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), sig)
}

fn interval_pp(ci: Option<Interval>) -> String {
    ci.map_or_else(|| "—".into(), pp_interval)
}

/// `+0.46 ± 0.75` (sd over seeds; the mean alone for one seed).
fn mean_sd(spread: &Spread, mean: fn(f64) -> String, sd: fn(f64) -> String) -> String {
    match spread.sd {
        Some(v) => format!("{} ± {}", mean(spread.mean), sd(v)),
        None => mean(spread.mean),
    }
}

fn rank_text(rank: usize, tied: bool, reference: bool) -> String {
    let mut text = rank.to_string();
    if tied {
        text.push_str(" (tie)");
    }
    if reference {
        text.push_str(" ref");
    }
    text
}

fn variant_cells(keys: &[String], matrix: &BTreeMap<String, Value>, instance: &str) -> Vec<String> {
    if keys.is_empty() {
        return vec![instance.to_string()];
    }
    keys.iter().map(|k| matrix.get(k).map_or_else(|| "—".into(), value_text)).collect()
}

fn variant_header(keys: &[String]) -> Vec<String> {
    if keys.is_empty() {
        vec!["variant".to_string()]
    } else {
        keys.to_vec()
    }
}

/// Every variant (every seed) against the reference: for ablation_summary.md and the report.
pub fn table(summary: &Summary) -> Table {
    let keys = summary.matrix_keys();
    let mut header = vec!["rank".to_string()];
    header.extend(variant_header(&keys));
    header.extend(
        [
            "test accuracy",
            "95% CI",
            "correct",
            "Δ accuracy (pp)",
            "Δ 95% CI (pp)",
            "McNemar b / c",
            "p",
            "verdict",
            "F1",
            "ECE",
            "dev loss",
        ]
        .map(String::from),
    );
    let rows = summary
        .rows
        .iter()
        .map(|r| {
            let mut cells = vec![rank_text(r.rank, r.tied, r.reference)];
            cells.extend(variant_cells(&keys, &r.matrix, &r.instance));
            cells.extend([
                percent(r.accuracy),
                r.accuracy_ci.map_or_else(|| "—".into(), percent_interval),
                format!("{}/{}", r.correct, r.n),
                pp(r.delta_accuracy_pp),
                interval_pp(r.delta_ci_pp),
                r.mcnemar.map_or_else(|| "—".into(), |m| format!("{} / {}", m.b, m.c)),
                r.mcnemar.map_or_else(|| "—".into(), |m| sig(m.p_value)),
                r.verdict.map_or_else(|| "reference".into(), |v| v.text().to_string()),
                sig(r.f1),
                optional(r.ece),
                optional(r.dev_loss),
            ]);
            cells
        })
        .collect();
    let (per_seed, within) =
        if summary.has_seeds() { (" of the same seed", " among the variants of one seed") } else { ("", "") };
    let footer = format!(
        "Δ: percentage points against the reference variant{per_seed} ({}, marked ref). 95% CI of accuracy: bootstrap \
         over the test set; of Δ: paired bootstrap (both variants on the same resampled sentences). McNemar: b = \
         sentences only the reference got right, c = only the variant; exact two-sided p; the verdict is better or \
         worse when p < {ALPHA}. One test sentence is 100/{} = {} pp. Rank: by test accuracy{within}; (tie): \
         the same test accuracy as another variant, sharing its rank.",
        matrix_text(&summary.reference),
        summary.n,
        sig(summary.single_example_pp)
    );
    Table { header, rows, footer: Some(footer) }
}

/// Each configuration over its seeds: mean ± sd and the per-seed values.
pub fn seeds_table(summary: &Summary) -> Table {
    let keys: Vec<String> = summary.matrix_keys().into_iter().filter(|k| k != SEED_AXIS).collect();
    let mut header = vec!["rank".to_string()];
    header.extend(variant_header(&keys));
    header.extend(
        [
            "seeds",
            "test accuracy, mean ± sd",
            "per seed",
            "Δ accuracy (pp), mean ± sd",
            "Δ 95% CI over sentences (pp)",
            "Δ 95% CI over seeds (pp)",
            "verdict",
            "F1, mean ± sd",
            "ECE, mean ± sd",
        ]
        .map(String::from),
    );
    let rows = summary
        .aggregates
        .iter()
        .map(|a| {
            let tied = summary.aggregates.iter().filter(|o| o.accuracy.mean == a.accuracy.mean).count() > 1;
            let mut cells = vec![rank_text(a.rank, tied, a.reference)];
            cells.extend(variant_cells(&keys, &a.matrix, &matrix_text(&a.matrix)));
            let seeds = a.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
            let per_seed = a.accuracy.values.iter().map(|&v| percent(v)).collect::<Vec<_>>().join(", ");
            let percent_sd = |s: &Spread| match s.sd {
                Some(sd) => format!("{} ± {}", percent(s.mean), pp_size(100.0 * sd)),
                None => percent(s.mean),
            };
            cells.extend([
                seeds,
                percent_sd(&a.accuracy),
                per_seed,
                mean_sd(&a.delta_accuracy_pp, pp, pp_size),
                interval_pp(a.delta_ci_pp),
                interval_pp(a.seed_ci_pp),
                a.verdict.map_or_else(|| "reference".into(), |v| v.text().to_string()),
                mean_sd(&a.f1, sig, sig),
                a.ece.as_ref().map_or_else(|| "—".into(), |e| mean_sd(e, sig, sig)),
            ]);
            cells
        })
        .collect();
    let footer = "Mean ± sample sd over seeds (sd of accuracy in pp). Δ: each seed against the reference under the same \
                  seed. Δ 95% CI over sentences: paired bootstrap of the seed-averaged difference (each sentence scored \
                  by the share of seeds that got it right). Δ 95% CI over seeds: t-interval of the mean of the per-seed \
                  Δ (n - 1 degrees of freedom; none for one seed). Verdict better or worse only when both intervals \
                  exclude 0 on the same side; when only the first does, the difference is not separated from \
                  seed-to-seed variation."
        .to_string();
    Table { header, rows, footer: Some(footer) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(instance: &str, pooling: &str, correct: usize) -> Measured {
        Measured {
            instance: instance.into(),
            matrix: BTreeMap::from([("pooling".to_string(), json!(pooling))]),
            accuracy: correct as f64 / 10.0,
            accuracy_ci: None,
            f1: 0.5,
            ece: None,
            dev_loss: None,
            correct: (0..10).map(|i| i < correct).collect(),
        }
    }

    fn boot() -> Bootstrap {
        Bootstrap::new(1, "test")
    }

    #[test]
    fn reference_must_match_exactly_one_configuration() {
        let measured = vec![m("a", "cls", 9), m("b", "mean", 8)];
        let none = BTreeMap::from([("pooling".to_string(), json!("max"))]);
        let err = summarize(measured.clone(), &none, &boot()).unwrap_err();
        assert!(err.to_string().contains("no variant has pooling=max") && err.to_string().contains("`b`"), "{err}");
        let err = summarize(measured, &BTreeMap::new(), &boot()).unwrap_err();
        assert!(err.is_config(), "{err}");
    }

    #[test]
    fn without_seeds_a_configuration_takes_the_verdict_of_its_row() {
        // Five sentences gained, none lost, of 872: McNemar p = 2 * 0.5^5 = 0.0625, no
        // detectable difference; the paired bootstrap's interval lies above 0 all the same.
        let of = |instance: &str, pooling: &str, right: usize| Measured {
            accuracy: right as f64 / 872.0,
            correct: (0..872).map(|i| i < right).collect(),
            ..m(instance, pooling, 0)
        };
        let reference = BTreeMap::from([("pooling".to_string(), json!("cls"))]);
        let s = summarize(vec![of("a", "cls", 780), of("b", "mean", 785)], &reference, &boot()).unwrap();
        let row = s.rows.iter().find(|r| r.instance == "b").unwrap();
        assert!(row.delta_ci_pp.unwrap()[0] > 0.0, "{:?}", row.delta_ci_pp);
        assert_eq!(row.verdict, Some(Verdict::NoDetectableDifference));
        let aggregate = s.aggregates.iter().find(|a| !a.reference).unwrap();
        assert_eq!(aggregate.verdict, row.verdict);
    }

    #[test]
    fn numbers_and_their_string_forms_match() {
        let mut a = m("a", "cls", 9);
        a.matrix.insert("dropout".into(), json!(0.1));
        let reference = BTreeMap::from([("dropout".to_string(), json!("0.1"))]);
        assert_eq!(summarize(vec![a, m("b", "mean", 8)], &reference, &boot()).unwrap().reference_instances, ["a"]);
    }

    #[test]
    fn seeds_pair_with_the_reference_of_the_same_seed_and_aggregate() {
        let with_seed = |mut v: Measured, seed: u64| {
            v.matrix.insert(SEED_AXIS.into(), json!(seed));
            v.instance = format!("{}[seed={seed}]", v.instance);
            v
        };
        // Reference right on 9, 8 (seeds 1, 2); the variant on 6, 7: -3 and -1 sentences.
        let measured = vec![
            with_seed(m("a", "cls", 9), 1),
            with_seed(m("a", "cls", 8), 2),
            with_seed(m("b", "mean", 6), 1),
            with_seed(m("b", "mean", 7), 2),
        ];
        let reference = BTreeMap::from([("pooling".to_string(), json!("cls"))]);
        let s = summarize(measured, &reference, &boot()).unwrap();
        assert!(s.has_seeds());
        assert_eq!(s.reference_instances, ["a[seed=1]", "a[seed=2]"]);
        let row = |name: &str| s.rows.iter().find(|r| r.instance == name).unwrap();
        assert!((row("b[seed=1]").delta_accuracy_pp + 30.0).abs() < 1e-9);
        assert!((row("b[seed=2]").delta_accuracy_pp + 10.0).abs() < 1e-9);
        assert_eq!(row("b[seed=1]").mcnemar.map(|t| (t.b, t.c)), Some((3, 0)));
        let b = s.aggregates.iter().find(|a| !a.reference).unwrap();
        assert_eq!(b.seeds, [1, 2]);
        assert_eq!(b.accuracy.values, [0.6, 0.7]);
        assert!((b.delta_accuracy_pp.mean + 20.0).abs() < 1e-9);
        // sd of -30 and -10: sqrt(((-10)^2 + 10^2) / 1) = 14.14.
        assert!((b.delta_accuracy_pp.sd.unwrap() - 200f64.sqrt()).abs() < 1e-9);
        assert_eq!(s.aggregates[0].rank, 1);
        assert!(s.aggregates[0].reference);
    }

    #[test]
    fn a_gain_clear_over_sentences_but_not_over_seeds_is_no_verdict() {
        // 100 sentences; the reference gets the first 50 right under every seed, the variant
        // 60, 51, 51: +10, +1, +1 pp. Every seed gains and the bootstrap interval excludes 0
        // (10 sentences gain, none loses), but the t-interval over seeds is 4 ± 4.303 · 5.196 / √3.
        let variant = |pooling: &str, seed: u64, correct: usize| Measured {
            instance: format!("{pooling}[seed={seed}]"),
            matrix: BTreeMap::from([("pooling".to_string(), json!(pooling)), (SEED_AXIS.to_string(), json!(seed))]),
            accuracy: correct as f64 / 100.0,
            accuracy_ci: None,
            f1: 0.5,
            ece: None,
            dev_loss: None,
            correct: (0..100).map(|i| i < correct).collect(),
        };
        let measured = vec![
            variant("cls", 1, 50),
            variant("cls", 2, 50),
            variant("cls", 3, 50),
            variant("mean", 1, 60),
            variant("mean", 2, 51),
            variant("mean", 3, 51),
        ];
        let reference = BTreeMap::from([("pooling".to_string(), json!("cls"))]);
        let s = summarize(measured, &reference, &boot()).unwrap();
        let mean = s.aggregates.iter().find(|a| !a.reference).unwrap();
        assert!(mean.delta_ci_pp.unwrap()[0] > 0.0, "{:?}", mean.delta_ci_pp);
        let [lo, hi] = mean.seed_ci_pp.unwrap();
        assert!((lo - (4.0 - 12.908)).abs() < 1e-3 && (hi - (4.0 + 12.908)).abs() < 1e-3, "{lo} {hi}");
        assert_eq!(mean.verdict, Some(Verdict::NotSeparatedFromSeedVariation));
        assert_eq!(s.aggregates.iter().find(|a| a.reference).unwrap().seed_ci_pp, None);
    }

    #[test]
    fn verdicts_need_both_intervals_on_one_side_of_zero() {
        let v = verdict_over_seeds;
        // The quick-seeds case: sentences [+0.038, +1.606], seeds [-0.22, +1.83].
        assert_eq!(v(Some([0.038, 1.606]), Some([-0.22, 1.83])), Verdict::NotSeparatedFromSeedVariation);
        assert_eq!(v(Some([0.5, 1.6]), Some([0.1, 1.9])), Verdict::Better);
        assert_eq!(v(Some([-2.0, -0.5]), Some([-3.0, -0.1])), Verdict::Worse);
        assert_eq!(v(Some([0.5, 1.0]), Some([-3.0, -0.1])), Verdict::NotSeparatedFromSeedVariation);
        assert_eq!(v(Some([-0.5, 1.0]), Some([0.1, 2.0])), Verdict::NoDetectableDifference);
        assert_eq!(v(None, None), Verdict::NoDetectableDifference);
        // One seed: no seed interval, the sentences' interval alone decides.
        assert_eq!(v(Some([0.038, 1.606]), None), Verdict::Better);
    }
}
