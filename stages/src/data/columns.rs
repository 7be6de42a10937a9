//! From a table to examples: find the text, label and index columns and
//! validate every cell, naming the file and row of the first bad one.

use serde_json::Value;

use super::examples::Example;
use super::table::Table;
use crate::StageError;

/// Which columns hold what. The index column (`idx`, else `index`) is optional:
/// without one, a row's idx is its 0-based position in the split.
pub struct Columns<'a> {
    pub text: &'a str,
    pub label: &'a str,
    /// Unlabelled splits (the HF test split) may lack the label column.
    pub label_required: bool,
}

const INDEX_COLUMNS: [&str; 2] = ["idx", "index"];

/// HF datasets mark unlabelled rows with label -1.
const NO_LABEL: i64 = -1;

/// Examples of `table`, tagged with `source` (the split name); `first_idx` is the
/// position of the table's first row in its split (for sharded splits).
pub fn examples(table: &Table, columns: &Columns, source: &str, first_idx: u64) -> Result<Vec<Example>, StageError> {
    let file = table.path.display();
    let missing = |what: &str, name: &str, key: &str| {
        StageError::Data(format!(
            "{file}: no {what} column `{name}` (columns found: {}); set `{key}` to one of them",
            table.columns.join(", ")
        ))
    };
    let text_col = table.column(columns.text).ok_or_else(|| missing("text", columns.text, "text_column"))?;
    let label_col = match table.column(columns.label) {
        Some(c) => Some(c),
        None if columns.label_required => return Err(missing("label", columns.label, "label_column")),
        None => None,
    };
    let idx_col = INDEX_COLUMNS.iter().find_map(|name| table.column(name));
    let mut out = Vec::with_capacity(table.rows.len());
    for (r, row) in table.rows.iter().enumerate() {
        let at = |msg: String| StageError::Data(format!("{file}: row {}: {msg}", r + 1));
        let text = match &row[text_col] {
            Value::String(s) => s.clone(),
            Value::Null => return Err(at(format!("column `{}` is empty", columns.text))),
            other => other.to_string(),
        };
        let label = match label_col {
            None => None,
            Some(c) => match integer(&row[c]) {
                Some(l @ (0 | 1)) => Some(l as u8),
                Some(NO_LABEL) => None,
                Some(l) => return Err(at(format!("label {l} is outside {{0, 1}} (-1 marks an unlabelled row)"))),
                None => return Err(at(format!("label {} is not an integer", row[c]))),
            },
        };
        let idx = match idx_col {
            None => first_idx + r as u64,
            Some(c) => match integer(&row[c]) {
                Some(i) if i >= 0 => i as u64,
                _ => return Err(at(format!("index {} is not a non-negative integer", row[c]))),
            },
        };
        out.push(Example { idx, source: source.to_string(), text, label });
    }
    Ok(out)
}

/// An integer cell: a JSON integer or a string holding one (TSV/CSV cells are strings).
fn integer(cell: &Value) -> Option<i64> {
    match cell {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn table(columns: &[&str], rows: Vec<Vec<Value>>) -> Table {
        Table { path: PathBuf::from("f.tsv"), columns: columns.iter().map(|c| c.to_string()).collect(), rows }
    }

    const LABELLED: Columns = Columns { text: "sentence", label: "label", label_required: true };

    #[test]
    fn reads_index_column_and_marks_minus_one_unlabelled() {
        let t = table(&["index", "sentence", "label"], vec![vec!["7".into(), "a".into(), Value::from(-1)]]);
        let ex = examples(&t, &LABELLED, "test", 0).unwrap();
        assert_eq!(ex, vec![Example { idx: 7, source: "test".into(), text: "a".into(), label: None }]);
    }

    #[test]
    fn rejects_bad_labels_with_file_and_row() {
        let t = table(&["sentence", "label"], vec![vec!["a".into(), "1".into()], vec!["b".into(), "2".into()]]);
        let err = examples(&t, &LABELLED, "train", 0).unwrap_err().to_string();
        assert_eq!(err, "f.tsv: row 2: label 2 is outside {0, 1} (-1 marks an unlabelled row)");
        let t = table(&["sentence", "label"], vec![vec!["a".into(), "0.5".into()]]);
        let err = examples(&t, &LABELLED, "train", 0).unwrap_err().to_string();
        assert_eq!(err, "f.tsv: row 1: label \"0.5\" is not an integer");
    }

    #[test]
    fn missing_label_column_lists_columns_unless_optional() {
        let t = table(&["index", "sentence"], vec![vec!["0".into(), "a".into()]]);
        let err = examples(&t, &LABELLED, "train", 0).unwrap_err().to_string();
        assert!(err.contains("no label column `label` (columns found: index, sentence)"), "{err}");
        let optional = Columns { label_required: false, ..LABELLED };
        assert_eq!(examples(&t, &optional, "test", 0).unwrap()[0].label, None);
    }
}
