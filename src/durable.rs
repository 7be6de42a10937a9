//! fsync, as git and restic do it: a file's bytes reach the disk before the rename
//! that publishes it, and the directory holding the new name is synced after it, so a
//! power loss or kernel crash never leaves a complete-looking name over partial data.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::Error;

/// From this many paths on, one `syncfs(2)` replaces an fsync each: an out of many small
/// files spent seconds in fsyncs alone (bench/README.md). Fewer are synced one by one, which
/// leaves other processes' writes to the filesystem (a training job's checkpoints) to the kernel.
#[cfg(target_os = "linux")]
const SYNCFS_FROM: usize = 64;

/// Flushes a file's or a directory's data and metadata (a directory's: the names created,
/// renamed or removed in it).
pub fn sync(path: &Path) -> Result<(), Error> {
    File::open(path).and_then(|f| f.sync_all()).map_err(Error::io(path))
}

/// Flushes every path of `paths`, which lie on one filesystem.
pub fn sync_all(paths: &[PathBuf]) -> Result<(), Error> {
    #[cfg(target_os = "linux")]
    if paths.len() >= SYNCFS_FROM {
        return syncfs(&paths[0]);
    }
    paths.iter().try_for_each(|p| sync(p))
}

/// Flushes the whole filesystem holding `on`, and says whether its writeback failed.
#[cfg(target_os = "linux")]
fn syncfs(on: &Path) -> Result<(), Error> {
    use std::os::fd::AsRawFd;
    let file = File::open(on).map_err(Error::io(on))?;
    // SAFETY: `file` keeps the descriptor open for the call.
    match unsafe { libc::syncfs(file.as_raw_fd()) } {
        0 => Ok(()),
        _ => Err(Error::io(on)(std::io::Error::last_os_error())),
    }
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
