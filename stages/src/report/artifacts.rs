//! Reading upstream artifact files for the report without trusting them: a
//! missing file is `Ok(None)` (the section says so), an unreadable one is an
//! `Err` message the report prints in place of the content.

use serde_json::Value;

use super::document::Table;
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

/// A CSV file as a table of its first `limit` rows (all when `None`).
pub fn read_csv(input: &Input, name: &str) -> Result<Option<Table>, String> {
    let Some(bytes) = read_bytes(input, name)? else { return Ok(None) };
    let bad = |e: csv::Error| format!("{} is not valid CSV: {e}", origin(input, name));
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header = reader.headers().map_err(bad)?.iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.map(|r| r.iter().map(String::from).collect()))
        .collect::<Result<Vec<Vec<String>>, _>>()
        .map_err(bad)?;
    Ok(Some(Table { header, rows, footer: None }))
}

/// A metric or cell value for display: integers as they are, other numbers
/// with four decimals (scientific below 0.001), strings bare, anything else as compact JSON.
pub fn format_value(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        // Tiny values such as learning rates would print as 0.0000.
        Value::Number(n) => match n.as_f64() {
            Some(f) if f != 0.0 && f.abs() < 1e-3 => format!("{f:.3e}"),
            Some(f) => format!("{f:.4}"),
            None => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// A metrics object as a two-column table (metric, value), in file order.
/// Timings (`*_seconds`, `*_per_second`) are left out: they measure the machine,
/// not the result, and would make the report differ between identical runs
/// (the run record keeps them).
pub fn metrics_table(metrics: &Value, skip: &[&str]) -> Option<Table> {
    let object = metrics.as_object()?;
    let is_timing = |k: &str| k.ends_with("seconds") || k.ends_with("per_second");
    let rows: Vec<Vec<String>> = object
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()) && !is_timing(k))
        .map(|(k, v)| vec![k.clone(), format_value(v)])
        .collect();
    (!rows.is_empty()).then(|| Table { header: vec!["metric".into(), "value".into()], rows, footer: None })
}

/// A list of records (e.g. per-epoch history) or a map of records (e.g. per
/// class scores) as a table; the columns are the record keys in first-seen
/// order, and a map's keys become the first column.
pub fn records_table(value: &Value) -> Option<Table> {
    let (names, records): (Option<Vec<String>>, Vec<&serde_json::Map<String, Value>>) = match value {
        Value::Array(items) => (None, items.iter().map(Value::as_object).collect::<Option<_>>()?),
        Value::Object(map) => (Some(map.keys().cloned().collect()), map.values().map(Value::as_object).collect::<Option<_>>()?),
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
            row.extend(columns.iter().map(|c| record.get(c).map_or_else(String::new, format_value)));
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
        let history = json!([{"epoch": 1, "dev_loss": 0.5}, {"epoch": 2, "dev_loss": 0.25, "lr": 1e-5}]);
        let t = records_table(&history).unwrap();
        assert_eq!(t.header, ["epoch", "dev_loss", "lr"]);
        assert_eq!(t.rows[1], ["2", "0.2500", "1.000e-5"]);
        let report = json!({"negative": {"precision": 0.9, "support": 428}});
        let t = records_table(&report).unwrap();
        assert_eq!(t.header, ["", "precision", "support"]);
        assert_eq!(t.rows, [["negative", "0.9000", "428"]]);
        assert!(records_table(&json!(3)).is_none());
        assert!(records_table(&json!({"negative": {"f1": 0.9}, "accuracy": 0.9})).is_none(), "not all records");
    }
}
