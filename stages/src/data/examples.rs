//! The canonical example format shared by the data stages and everything downstream:
//! one JSON object per line, `{"idx": 17, "source": "validation", "text": "...", "label": 1}`.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StageError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// Index of the sentence in its source split (HF `idx`, or the row number of a local file).
    pub idx: u64,
    /// The source split it came from (`train`, `validation`, `test`): with `idx` it names the sentence.
    pub source: String,
    pub text: String,
    /// 0 = negative, 1 = positive; `None` for unlabelled data.
    pub label: Option<u8>,
}

pub fn read_jsonl(path: &Path) -> Result<Vec<Example>, StageError> {
    let file = std::fs::File::open(path).map_err(StageError::io(path))?;
    let mut out = Vec::new();
    for (row, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(StageError::io(path))?;
        let example = serde_json::from_str(&line)
            .map_err(|e| StageError::Input(format!("{}: line {}: {e}", path.display(), row + 1)))?;
        out.push(example);
    }
    Ok(out)
}

pub fn write_jsonl(path: &Path, examples: &[Example]) -> Result<(), StageError> {
    let file = std::fs::File::create(path).map_err(StageError::io(path))?;
    let mut w = BufWriter::new(file);
    for e in examples {
        serde_json::to_writer(&mut w, e).map_err(|e| StageError::Failed(e.to_string()))?;
        w.write_all(b"\n").map_err(StageError::io(path))?;
    }
    w.flush().map_err(StageError::io(path))
}
