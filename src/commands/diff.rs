//! `pipe diff`: what changed between two runs — keys, artifact hashes, param
//! values and metric deltas — for every stage instance that differs.

use std::collections::BTreeMap;
use std::path::Path;

use pipe_stages::Registry;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::flatten::{self, changes};
use crate::key::KeyParts;
use crate::key_change::{key_changes, KeyChange};
use crate::record::{self, RunRecord, StageRecord};
use crate::store::{key_file, Store};
use crate::table::short;
use crate::{metric_text, Error};
use pipe_stages::numfmt::signed;
use pipe_stages::stats::interval::{of_metric, CI_SUFFIX};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe diff                                   the last two runs of the most recent run's pipeline
  pipe diff 20261130T051500.123Z-1a2b latest  two runs by id, unique id prefix or `latest`
  pipe diff --json")]
pub struct Args {
    /// Two runs (id, unique id prefix or `latest`); default: the last two runs of the latest run's pipeline
    #[arg(num_args = 0..=2, value_name = "RUN")]
    pub runs: Vec<String>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    a: String,
    b: String,
    changed: Vec<Changed>,
    /// Instances only in run B / only in run A.
    added: Vec<String>,
    removed: Vec<String>,
    /// Instances in one run only because the other was a `--stage` run, which records its
    /// selection alone: neither added nor removed.
    outside_selection: Vec<String>,
    unchanged: usize,
}

#[derive(Serialize)]
struct Changed {
    instance: String,
    key: [Option<String>; 2],
    artifact: [Option<String>; 2],
    params: Map<String, Value>,
    /// The other components of the key that changed (code version, seed, the stage's
    /// deps or command, upstream artifacts), as `status --why` names them; empty where
    /// either key's components are no longer in the cache.
    why: Vec<String>,
    metrics: Map<String, Value>,
    /// Old and new text of each changed metric as `pipe show` prints it: 4 significant
    /// digits, with its 95% interval (`x_ci`) where it has one; `metrics` keeps full precision.
    #[serde(skip)]
    shown: BTreeMap<String, [String; 2]>,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    let store = Store::new(cache)?;
    let (a, b) = match args.runs.as_slice() {
        [a, b] => (record::find(&store, a)?, record::find(&store, b)?),
        [] => last_two(&store)?,
        _ => return Err(Error::Config("pipe diff takes two runs or none".into())),
    };
    if a.pipeline != b.pipeline {
        eprintln!(
            "note: {} is a run of pipeline `{}`, {} of `{}`: their stages are compared by name",
            a.id, a.pipeline, b.id, b.pipeline
        );
    }
    let report = compare(&Registry::builtin(), &store, &a, &b)?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(Error::corrupt(record::path(&store, &b.id)))?;
        println!("{text}");
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// The latest run and the run before it of the same pipeline.
fn last_two(store: &Store) -> Result<(RunRecord, RunRecord), Error> {
    let mut records = record::readable(store)?;
    let Some(b) = records.pop() else {
        return Err(Error::Config(format!("no runs recorded in {}", store.runs_dir().display())));
    };
    if let Some(i) = records.iter().rposition(|a| a.pipeline == b.pipeline) {
        return Ok((records.swap_remove(i), b));
    }
    Err(Error::Config(format!("only one run of pipeline `{}` is recorded; nothing to compare", b.pipeline)))
}

fn compare(registry: &Registry, store: &Store, a: &RunRecord, b: &RunRecord) -> Result<Report, Error> {
    let mut changed = Vec::new();
    let mut unchanged = 0;
    for new in &b.stages {
        let Some(old) = a.stage(&new.instance) else { continue };
        if old.key == new.key && old.artifact == new.artifact {
            unchanged += 1;
            continue;
        }
        changed.push(Changed {
            instance: new.instance.clone(),
            key: [old.key.clone(), new.key.clone()],
            artifact: [old.artifact.clone(), new.artifact.clone()],
            // Records from before a param existed lack its implicit value.
            params: changes(&registry.shown(&old.kind, &old.params), &registry.shown(&new.kind, &new.params))
                .into_iter()
                .map(|c| (c.path, serde_json::json!([c.old, c.new])))
                .collect(),
            why: key_reasons(registry, store, old, new)?,
            metrics: metric_changes(old, new),
            shown: shown_metrics(old, new),
        });
    }
    let only = |x: &RunRecord, y: &RunRecord| -> Vec<String> {
        x.stages.iter().filter(|s| y.stage(&s.instance).is_none()).map(|s| s.instance.clone()).collect()
    };
    let (mut added, mut removed, mut outside_selection) = (only(b, a), only(a, b), Vec::new());
    if !b.selected.is_empty() {
        outside_selection.append(&mut removed);
    }
    if !a.selected.is_empty() {
        outside_selection.append(&mut added);
    }
    Ok(Report { a: a.id.clone(), b: b.id.clone(), changed, added, removed, outside_selection, unchanged })
}

/// The key components other than params that differ between the two records' keys
/// (params come from the records, which outlive their keys' files).
fn key_reasons(registry: &Registry, store: &Store, old: &StageRecord, new: &StageRecord) -> Result<Vec<String>, Error> {
    let parts = |key: &Option<String>| -> Result<Option<KeyParts>, Error> {
        Ok(match key {
            Some(key) => key_file(store, key)?.map(|file| file.parts),
            None => None,
        })
    };
    let (Some(old), Some(new)) = (parts(&old.key)?, parts(&new.key)?) else { return Ok(Vec::new()) };
    Ok(key_changes(&old, &new, registry)
        .into_iter()
        .filter(|c| !matches!(c, KeyChange::Param(_)))
        .map(|c| c.to_string())
        .collect())
}

/// Changed metrics as {old, new, delta}; delta only when both are numbers.
fn metric_changes(old: &StageRecord, new: &StageRecord) -> Map<String, Value> {
    let (o, n) = (Value::Object(old.metrics.clone()), Value::Object(new.metrics.clone()));
    changes(&o, &n)
        .into_iter()
        .map(|c| {
            let delta = match (&c.old, &c.new) {
                (Some(x), Some(y)) => delta(x, y),
                _ => Value::Null,
            };
            (c.path, serde_json::json!({"old": c.old, "new": c.new, "delta": delta}))
        })
        .collect()
}

/// `new - old`: an integer between two integers (a count of steps or figures), else a
/// float between two numbers, else null.
fn delta(old: &Value, new: &Value) -> Value {
    if let Some(d) = old.as_i64().zip(new.as_i64()).and_then(|(x, y)| y.checked_sub(x)) {
        return Value::from(d);
    }
    match (old.as_f64(), new.as_f64()) {
        (Some(x), Some(y)) => Value::from(y - x),
        _ => Value::Null,
    }
}

/// ` (+7)` for an integer delta, ` (+0.01147)` for a float one, nothing for none.
fn delta_text(delta: &Value) -> String {
    match delta.as_i64() {
        Some(d) => format!(" ({d:+})"),
        None => delta.as_f64().map(|d| format!(" ({})", signed(d))).unwrap_or_default(),
    }
}

/// Each changed metric's old and new text, `value [lo, hi]` or the value alone; `(none)`
/// where a side lacks it.
fn shown_metrics(old: &StageRecord, new: &StageRecord) -> BTreeMap<String, [String; 2]> {
    let (o, n) = (Value::Object(old.metrics.clone()), Value::Object(new.metrics.clone()));
    let text = |side: &Value, value: &Option<Value>, path: &str| {
        value.as_ref().map_or_else(|| "(none)".into(), |v| metric_text::value_text(v, of_metric(side, path)))
    };
    changes(&o, &n)
        .into_iter()
        .map(|c| (c.path.clone(), [text(&o, &c.old, &c.path), text(&n, &c.new, &c.path)]))
        .collect()
}

fn text(r: &Report) -> String {
    let mut out = format!("diff {} -> {}\n", r.a, r.b);
    let hash = |h: &Option<String>| h.as_deref().map(short).unwrap_or("-").to_string();
    for c in &r.changed {
        out.push_str(&format!("changed {}\n", c.instance));
        out.push_str(&format!("    key       {} -> {}\n", hash(&c.key[0]), hash(&c.key[1])));
        if c.artifact[0] != c.artifact[1] {
            out.push_str(&format!("    artifact  {} -> {}\n", hash(&c.artifact[0]), hash(&c.artifact[1])));
        }
        for (path, v) in &c.params {
            out.push_str(&format!("    param     {path}: {}\n", flatten::arrow(Some(&v[0]), Some(&v[1]))));
        }
        for line in &c.why {
            out.push_str(&format!("    why       {line}\n"));
        }
        for (path, m) in &c.metrics {
            // An interval that changed with its metric is shown beside it, not on its own line.
            if path.strip_suffix(CI_SUFFIX).is_some_and(|base| c.metrics.contains_key(base)) {
                continue;
            }
            let delta = delta_text(&m["delta"]);
            let [old, new] = &c.shown[path];
            out.push_str(&format!("    metric    {path}: {old} -> {new}{delta}\n"));
        }
    }
    for name in &r.added {
        out.push_str(&format!("added   {name}\n"));
    }
    for name in &r.removed {
        out.push_str(&format!("removed {name}\n"));
    }
    if !r.outside_selection.is_empty() {
        out.push_str(&format!("not compared (outside a --stage run): {}\n", r.outside_selection.join(", ")));
    }
    out.push_str(&format!("{} changed, {} unchanged\n", r.changed.len(), r.unchanged));
    out
}
