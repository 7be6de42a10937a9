//! Labelled token rows of a split, as training and the benchmark consume them.

use std::path::Path;

use crate::data::tokens::TokenizedSplit;
use crate::StageError;

/// Token ids and 0/1 labels, row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub ids: Vec<Vec<u32>>,
    pub labels: Vec<u32>,
}

impl Rows {
    /// The given rows, in the given order.
    pub fn select(&self, keep: &[usize]) -> Rows {
        Rows {
            ids: keep.iter().map(|&i| self.ids[i].clone()).collect(),
            labels: keep.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    pub fn lengths(&self) -> Vec<usize> {
        self.ids.iter().map(Vec::len).collect()
    }
}

/// Reads a tokenized split, every row capped at `max_len` tokens; every row must be labelled 0 or 1.
pub fn labelled(path: &Path, max_len: Option<usize>) -> Result<Rows, StageError> {
    let tokens = TokenizedSplit::read(path)?;
    if tokens.is_empty() {
        return Err(StageError::Input(format!("{}: the split is empty", path.display())));
    }
    let mut labels = Vec::with_capacity(tokens.len());
    for (row, &label) in tokens.labels.iter().enumerate() {
        match label {
            0 | 1 => labels.push(label as u32),
            _ => {
                return Err(StageError::Input(format!(
                    "{}: row {row} has label {label}; training needs 0/1 labels",
                    path.display()
                )))
            }
        }
    }
    let ids = tokens.ids.into_iter().map(|ids| capped(ids, max_len)).collect();
    Ok(Rows { ids, labels })
}

/// At most `max_len` ids, the last one ([SEP]) kept at the end, as tokenize truncates.
pub fn capped(mut ids: Vec<u32>, max_len: Option<usize>) -> Vec<u32> {
    if let Some(n) = max_len.filter(|&n| n >= 1 && ids.len() > n) {
        let last = ids[ids.len() - 1];
        ids.truncate(n);
        ids[n - 1] = last;
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capping_keeps_the_final_token() {
        assert_eq!(capped(vec![101, 5, 6, 7, 102], Some(3)), vec![101, 5, 102]);
        assert_eq!(capped(vec![101, 5, 102], Some(3)), vec![101, 5, 102]);
        assert_eq!(capped(vec![101, 5, 6, 102], None), vec![101, 5, 6, 102]);
    }

    #[test]
    fn unlabelled_rows_are_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.safetensors");
        TokenizedSplit { ids: vec![vec![101, 102]], labels: vec![-1] }.write(&path).unwrap();
        let err = labelled(&path, None).unwrap_err().to_string();
        assert!(err.contains("test.safetensors") && err.contains("label -1"), "{err}");
    }
}
