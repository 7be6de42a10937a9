//! Reading upstream artifact files for the report without trusting them: a
//! missing file is `Ok(None)` (the section says so), an unreadable one is an
//! `Err` message the report prints in place of the content.

use serde_json::Value;

use super::document::Table;
use crate::numfmt::{format_value, interval_text, percent, percent_interval};
use crate::stats::interval::{from_json, of_metric, CI_SUFFIX};
use crate::Input;

/// Where a file of an upstream artifact comes from, for messages.
fn origin(input: &Input, name: &str) -> String {
    format!("`{name}` of `{}`", input.instance)
}

pub fn read_bytes(input: &Input, name: &str) -> Result<Option<Vec<u8>>, String> {
    let path = input.dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {} ({}): {e}", origin(input, name), path.display())),
    }
}

pub fn read_json(input: &Input, name: &str) -> Result<Option<Value>, String> {
    let Some(bytes) = read_bytes(input, name)? else { return Ok(None) };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{} is not valid JSON: {e}", origin(input, name)))
}

/// A metric's interval (`<key>_ci`) as text, or empty when it has none.
pub fn interval_cell(metrics: &Value, key: &str) -> String {
    let shown = if is_accuracy(key) { percent_interval } else { interval_text };
    of_metric(metrics, key).map_or_else(String::new, shown)
}

/// An accuracy by its name (`accuracy`, `dev_accuracy`, `accuracy_wilson`): shown as a
/// percentage, as the summary and the slices show accuracies.
fn is_accuracy(key: &str) -> bool {
    key.split('_').any(|word| word == "accuracy")
}

/// A metric or record value under `key` for a table cell: an accuracy in percent (an
/// interval's ends too), anything else as [`format_value`] writes it.
fn cell(key: &str, value: &Value) -> String {
    if is_accuracy(key) {
        if let Some(share) = value.as_f64().filter(|v| (0.0..=1.0).contains(v)) {
            return percent(share);
        }
        if let Some(interval) = from_json(value) {
            return percent_interval(interval);
        }
    }
    format_value(value)
}

/// A metrics object as a table (metric, value, 95% CI), in file order; a metric's
/// interval `<key>_ci` goes into its row rather than a row of its own.
/// Timings (`*_seconds`, `*_per_second`) are left out: they measure the machine,
/// not the result, and would make the report differ between identical runs
/// (the run record keeps them).
pub fn metrics_table(metrics: &Value, skip: &[&str]) -> Option<Table> {
    let object = metrics.as_object()?;
    let is_timing = |k: &str| k.ends_with("seconds") || k.ends_with("per_second");
    let is_interval = |k: &str| k.strip_suffix(CI_SUFFIX).is_some_and(|base| object.contains_key(base));
    let rows: Vec<Vec<String>> = object
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()) && !is_timing(k) && !is_interval(k))
        .map(|(k, v)| vec![k.clone(), cell(k, v), interval_cell(metrics, k)])
        .collect();
    let any_interval = rows.iter().any(|r| !r[2].is_empty());
    let rows = rows.into_iter().map(|mut r| {
        r.truncate(if any_interval { 3 } else { 2 });
        r
    });
    let mut header = vec!["metric".to_string(), "value".to_string()];
    if any_interval {
        header.push("95% CI".into());
    }
    let rows: Vec<Vec<String>> = rows.collect();
    (!rows.is_empty()).then_some(Table { header, rows, footer: None })
}

/// A list of records (e.g. per-epoch history) or a map of records (e.g. per
/// class scores) as a table; the columns are the record keys in first-seen
/// order, and a map's keys become the first column.
pub fn records_table(value: &Value) -> Option<Table> {
    let (names, records): (Option<Vec<String>>, Vec<&serde_json::Map<String, Value>>) = match value {
        Value::Array(items) => (None, items.iter().map(Value::as_object).collect::<Option<_>>()?),
        Value::Object(map) => {
            (Some(map.keys().cloned().collect()), map.values().map(Value::as_object).collect::<Option<_>>()?)
        }
        _ => return None,
    };
    if records.is_empty() {
        return None;
    }
    let mut columns: Vec<String> = Vec::new();
    for record in &records {
        for key in record.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let mut header: Vec<String> = names.as_ref().map(|_| vec![String::new()]).unwrap_or_default();
    header.extend(columns.iter().cloned());
    let rows = records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let mut row: Vec<String> = names.as_ref().map(|n| vec![n[i].clone()]).unwrap_or_default();
            row.extend(columns.iter().map(|c| record.get(c).map_or_else(String::new, |v| cell(c, v))));
            row
        })
        .collect();
    Some(Table { header, rows, footer: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_tables_from_lists_and_maps() {
        let history =
            json!([{"epoch": 1, "dev_loss": 0.5}, {"epoch": 2, "dev_loss": 0.25, "lr": 1e-5, "dev_accuracy": 0.91}]);
        let t = records_table(&history).unwrap();
        assert_eq!(t.header, ["epoch", "dev_loss", "lr", "dev_accuracy"]);
        assert_eq!(t.rows[1], ["2", "0.2500", "1.000e-5", "91.00%"], "accuracies in percent");
        assert_eq!(format_value(&json!(0.708994708994709)), "0.7090");
        assert_eq!(format_value(&json!(-2.645418663904664e-6)), "-2.645e-6");
        let metrics = json!({"accuracy": 0.8, "accuracy_ci": [0.77, 0.83], "accuracy_wilson": [0.7712, 0.8261], "n": 872, "f1": 0.8, "f1_ci": [0.77, 0.83]});
        let m = metrics_table(&metrics, &[]).unwrap();
        assert_eq!(m.header, ["metric", "value", "95% CI"]);
        assert_eq!(
            m.rows,
            [
                ["accuracy", "80.00%", "[77.00, 83.00]%"],
                ["accuracy_wilson", "[77.12, 82.61]%", ""],
                ["n", "872", ""],
                ["f1", "0.8000", "[0.7700, 0.8300]"]
            ]
        );
        let report = json!({"negative": {"precision": 0.9, "support": 428}});
        let t = records_table(&report).unwrap();
        assert_eq!(t.header, ["", "precision", "support"]);
        assert_eq!(t.rows, [["negative", "0.9000", "428"]]);
        assert!(records_table(&json!(3)).is_none());
        assert!(records_table(&json!({"negative": {"f1": 0.9}, "accuracy": 0.9})).is_none(), "not all records");
    }
}
