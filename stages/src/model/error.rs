//! What building or running a model can fail with. Stages turn it into a
//! `StageError` (`From` below), which decides the exit code.

use std::path::PathBuf;

use crate::StageError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("tensor computation: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A checkpoint file (config.json, safetensors) that cannot serve; the message names it.
    #[error("{0}")]
    Checkpoint(String),
    /// Input the model cannot take (a token id outside the vocabulary, a sequence too long).
    #[error("{0}")]
    Data(String),
    /// Writing a checkpoint failed for a reason other than I/O.
    #[error("{0}")]
    Save(String),
    /// A model option that does not fit this model (`num_layers`, a `config.json` field).
    #[error("option `{key}`: {message}")]
    Option { key: &'static str, message: String },
    /// The run was asked to stop (`crate::interrupt`) between two batches.
    #[error("interrupted")]
    Interrupted,
}

impl ModelError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ModelError {
        let path = path.into();
        move |source| ModelError::Io { path, source }
    }
}

impl From<ModelError> for StageError {
    fn from(e: ModelError) -> StageError {
        match e {
            ModelError::Tensor(e) => StageError::Tensor(e),
            ModelError::Io { path, source } => StageError::Io { path, source },
            ModelError::Checkpoint(m) => StageError::Input(m),
            ModelError::Data(m) => StageError::Data(m),
            ModelError::Save(m) => StageError::Failed(m),
            ModelError::Option { key, message } => StageError::param(key, message),
            ModelError::Interrupted => StageError::Interrupted,
        }
    }
}
