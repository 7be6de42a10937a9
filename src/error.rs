use std::path::PathBuf;

/// Everything the engine can fail with; [`Error::exit_code`] maps it to the process exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file or the command line is wrong; nothing was run and the cache is untouched.
    #[error("{0}")]
    Config(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A file the engine wrote earlier (run record, lock file, manifest) cannot be read back.
    #[error("{}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    /// A committed object failed its re-hash ([`crate::store::Store::rehash`]) and was quarantined.
    #[error("{0}")]
    CorruptObject(String),
    /// Some stages failed; each failure was reported as it happened.
    #[error("{message}")]
    Failed { message: String, config: bool },
    /// A command that writes the cache (`run`, `pull`, `gc`) met one it cannot write.
    #[error(
        "cache {} is read-only ({source}): this command writes into it; give a writable one with --cache or $PIPE_CACHE (`pipe checkout` and `pipe status` only read it)",
        path.display()
    )]
    ReadOnlyCache { path: PathBuf, source: std::io::Error },
    /// The cache is in use by a run (for `pipe gc`).
    #[error("{0}")]
    Busy(String),
    /// The run stopped on this signal (SIGINT, SIGTERM); its record says interrupted.
    #[error("interrupted by signal {0}")]
    Interrupted(i32),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
}

/// A stage-library error outside a run (`pipe bench`, `pipe predict`): a bad
/// option is the command line's fault (exit 2), anything else a failure (exit 1).
impl From<pipe_stages::StageError> for Error {
    fn from(e: pipe_stages::StageError) -> Error {
        Error::Failed { config: e.is_config(), message: e.to_string() }
    }
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub fn corrupt(path: impl Into<PathBuf>) -> impl FnOnce(serde_json::Error) -> Error {
        let path = path.into();
        move |e| Error::Corrupt { path, message: e.to_string() }
    }

    /// 2 when the pipeline file or command line is at fault, 1 for failures while running,
    /// 128 + the signal for an interrupted run.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Failed { config: true, .. } | Error::ReadOnlyCache { .. } => 2,
            // As a shell reports a process ended by the signal.
            Error::Interrupted(signal) => 128 + signal,
            Error::Remote(crate::remote::RemoteError::Config(_) | crate::remote::RemoteError::ReadOnly(_)) => 2,
            _ => 1,
        }
    }
}
