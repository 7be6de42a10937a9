//! Scratch directories for the eval tests: a temp dir, or PIPE_PLOT_DIR/<name> when
//! that variable is set, so the charts and tables can be looked at afterwards.

use std::path::PathBuf;

pub struct Scratch {
    _tmp: Option<tempfile::TempDir>,
    pub path: PathBuf,
}

pub fn scratch(name: &str) -> Scratch {
    match std::env::var_os("PIPE_PLOT_DIR") {
        Some(dir) => {
            let path = PathBuf::from(dir).join(name);
            if path.exists() {
                std::fs::remove_dir_all(&path).unwrap();
            }
            std::fs::create_dir_all(&path).unwrap();
            Scratch { _tmp: None, path }
        }
        None => {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().to_path_buf();
            Scratch { _tmp: Some(tmp), path }
        }
    }
}
