//! fsync, as git and restic do it: a file's bytes reach the disk before the rename
//! that publishes it, and the directory holding the new name is synced after it, so a
//! power loss or kernel crash never leaves a complete-looking name over partial data.

use std::fs::File;
use std::path::Path;

use crate::Error;

/// Flushes one file's data and metadata.
pub fn sync_file(path: &Path) -> Result<(), Error> {
    File::open(path).and_then(|f| f.sync_all()).map_err(Error::io(path))
}

/// Flushes a directory's entries (names created, renamed or removed in it).
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(Error::io(dir))
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
