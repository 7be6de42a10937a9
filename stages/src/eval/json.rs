//! Reading and writing the stages' JSON files (pretty, trailing newline; serde_json
//! writes non-finite floats as null, so no NaN reaches a file).

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use crate::StageError;

pub fn write(path: &Path, value: &impl Serialize) -> Result<(), StageError> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| StageError::Failed(format!("{}: {e}", path.display())))?;
    text.push('\n');
    std::fs::write(path, text).map_err(StageError::io(path))
}

pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, StageError> {
    let text = std::fs::read_to_string(path).map_err(StageError::io(path))?;
    serde_json::from_str(&text).map_err(|e| StageError::Input(format!("{}: {e}", path.display())))
}
