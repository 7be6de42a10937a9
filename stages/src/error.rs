use std::path::PathBuf;

/// Why a stage could not resolve its params or produce its artifact.
///
/// `Param` is a configuration error (the pipeline file is wrong: exit code 2);
/// every other variant is a failure while running (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("param `{key}`: {message}")]
    Param { key: String, message: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// Bad input data; the message names the file (and row) at fault.
    #[error("{0}")]
    Data(String),
    /// A model or dataset could not be found in the hub cache or fetched.
    #[error("{0}")]
    Hub(String),
    /// An upstream artifact this stage needs is missing or malformed.
    #[error("{0}")]
    Input(String),
    #[error("tensor computation: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("{0}")]
    Failed(String),
    /// The run was asked to stop (SIGINT or SIGTERM) while the stage worked.
    #[error("interrupted")]
    Interrupted,
    /// A symbolic link where pipe reads or writes files: it is never followed.
    #[error("{}: a symbolic link; pipe handles regular files only and never follows links", .0.display())]
    Link(PathBuf),
    /// A FIFO, socket or device where pipe reads or stores files: reading one could block forever.
    #[error("{}: a {}; pipe reads and stores regular files and directories only", .0.display(), .1)]
    Special(PathBuf, &'static str),
}

impl StageError {
    pub fn param(key: impl Into<String>, message: impl Into<String>) -> Self {
        StageError::Param { key: key.into(), message: message.into() }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StageError {
        let path = path.into();
        move |source| StageError::Io { path, source }
    }

    /// True when the pipeline file, not the run, is at fault.
    pub fn is_config(&self) -> bool {
        matches!(self, StageError::Param { .. })
    }
}
