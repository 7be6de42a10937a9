//! Reading and writing the stages' JSON files (pretty, trailing newline; serde_json
//! writes non-finite floats as null, so no NaN reaches a file).

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use crate::StageError;

/// Indented, for files people open.
pub fn write(path: &Path, value: &impl Serialize) -> Result<(), StageError> {
    written(path, serde_json::to_string_pretty(value))
}

/// On one line, for files of many numbers (attention matrices, token ids).
pub fn write_compact(path: &Path, value: &impl Serialize) -> Result<(), StageError> {
    written(path, serde_json::to_string(value))
}

fn written(path: &Path, text: serde_json::Result<String>) -> Result<(), StageError> {
    let text = text.map_err(|e| StageError::Failed(format!("{}: {e}", path.display())))? + "\n";
    std::fs::write(path, text).map_err(StageError::io(path))
}

pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, StageError> {
    let text = std::fs::read_to_string(path).map_err(StageError::io(path))?;
    serde_json::from_str(&text).map_err(|e| StageError::Input(format!("{}: {e}", path.display())))
}
