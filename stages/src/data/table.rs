//! Tabular files (TSV, CSV, JSONL, parquet) read into one in-memory shape:
//! named columns and rows of JSON cells, so that column lookup and label
//! validation are written once (see `columns.rs`).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::StageError;

/// The file formats a data source may use, recognised by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tsv,
    Csv,
    Jsonl,
    Parquet,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "tsv" => Some(Format::Tsv),
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

pub struct Table {
    pub path: PathBuf,
    pub columns: Vec<String>,
    /// One cell per column; row r is data row r + 1 of the file (headers not counted).
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

pub fn read(path: &Path) -> Result<Table, StageError> {
    match Format::of(path) {
        Some(Format::Tsv) => read_delimited(path, b'\t', false),
        Some(Format::Csv) => read_delimited(path, b',', true),
        Some(Format::Jsonl) => read_jsonl(path),
        Some(Format::Parquet) => super::parquet_table::read(path),
        None => Err(StageError::Data(format!(
            "{}: unsupported file type (expected .tsv, .csv, .jsonl or .parquet)",
            path.display()
        ))),
    }
}

/// A read error naming the file.
pub fn unreadable(path: &Path, detail: impl std::fmt::Display) -> StageError {
    StageError::Data(format!("{}: unreadable: {detail}", path.display()))
}

/// TSV is read without quote handling, as GLUE writes it (a `"` inside a sentence is text);
/// CSV follows RFC 4180 quoting.
fn read_delimited(path: &Path, delimiter: u8, quoting: bool) -> Result<Table, StageError> {
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).quoting(quoting).from_reader(file);
    let columns: Vec<String> = reader.headers().map_err(|e| unreadable(path, e))?.iter().map(str::to_string).collect();
    let mut rows = Vec::new();
    for (r, record) in reader.records().enumerate() {
        let record = record.map_err(|e| unreadable(path, format!("row {}: {e}", r + 1)))?;
        rows.push(record.iter().map(|cell| Value::String(cell.to_string())).collect());
    }
    Ok(Table { path: path.to_path_buf(), columns, rows })
}

/// One JSON object per line; the columns are the keys in order of first appearance.
fn read_jsonl(path: &Path) -> Result<Table, StageError> {
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let mut objects: Vec<Map<String, Value>> = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    for (line_no, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| unreadable(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let object: Map<String, Value> = serde_json::from_str(&line)
            .map_err(|e| unreadable(path, format!("line {}: not a JSON object: {e}", line_no + 1)))?;
        for key in object.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
        objects.push(object);
    }
    let rows =
        objects.into_iter().map(|mut o| columns.iter().map(|c| o.remove(c).unwrap_or(Value::Null)).collect()).collect();
    Ok(Table { path: path.to_path_buf(), columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tsv_without_quoting_and_csv_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let tsv = dir.path().join("a.tsv");
        std::fs::write(&tsv, "sentence\tlabel\nsay \"hi \t1\n").unwrap();
        let t = read(&tsv).unwrap();
        assert_eq!(t.columns, ["sentence", "label"]);
        assert_eq!(t.rows, vec![vec![Value::from("say \"hi "), Value::from("1")]]);
        let csv = dir.path().join("a.csv");
        std::fs::write(&csv, "sentence,label\n\"a, b\",0\n").unwrap();
        assert_eq!(read(&csv).unwrap().rows, vec![vec![Value::from("a, b"), Value::from("0")]]);
    }

    #[test]
    fn reads_jsonl_with_missing_keys_as_null() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "{\"sentence\": \"x\", \"label\": 1}\n\n{\"sentence\": \"y\"}\n").unwrap();
        let t = read(&path).unwrap();
        assert_eq!(t.rows[1], vec![Value::from("y"), Value::Null]);
    }
}
