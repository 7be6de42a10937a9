//! Permissions and durability of committed objects. Sealing syncs every file and
//! directory of an object to disk and makes it read-only (as git does with its
//! objects), so neither a crash nor a stray write leaves an object that looks
//! complete but is not; unsealing makes a tree removable again.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{durable, Error};

const READ_ONLY_FILE: u32 = 0o444;
const READ_ONLY_EXECUTABLE: u32 = 0o555;
const READ_ONLY_DIR: u32 = 0o555;
const WRITABLE_DIR: u32 = 0o755;

/// Write-protects everything under `dir`, then syncs it all, `dir` included, in one go
/// (see [`durable::sync_all`]); `dir` itself is left writable, since renaming a directory
/// into another one needs that.
pub fn seal(dir: &Path) -> Result<(), Error> {
    let mut paths = vec![dir.to_path_buf()];
    protect(dir, &mut paths)?;
    durable::sync_all(&paths)
}

/// Write-protects everything under `dir`, depth first, adding each path to `paths`.
fn protect(dir: &Path, paths: &mut Vec<PathBuf>) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(Error::io(dir))? {
        let path = entry.map_err(Error::io(dir))?.path();
        let meta = fs::symlink_metadata(&path).map_err(Error::io(&path))?;
        if meta.is_dir() {
            protect(&path, paths)?;
            chmod(&path, READ_ONLY_DIR)?;
        } else {
            // An executable stays one: a downstream stage may run it.
            let exec = meta.permissions().mode() & 0o100 != 0;
            chmod(&path, if exec { READ_ONLY_EXECUTABLE } else { READ_ONLY_FILE })?;
        }
        paths.push(path);
    }
    Ok(())
}

/// Write-protects the top directory of a sealed object, once it is in place.
pub fn close(dir: &Path) -> Result<(), Error> {
    chmod(dir, READ_ONLY_DIR)
}

/// Makes every directory under `path` (and `path`) writable again, so it can be
/// removed, renamed elsewhere or written into (files need no write permission for that).
pub fn unseal(path: &Path) -> Result<(), Error> {
    let meta = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(Error::io(path))?,
    };
    if !meta.is_dir() {
        return Ok(());
    }
    if meta.permissions().mode() & 0o200 == 0 {
        chmod(path, WRITABLE_DIR)?;
    }
    for entry in fs::read_dir(path).map_err(Error::io(path))? {
        unseal(&entry.map_err(Error::io(path))?.path())?;
    }
    Ok(())
}

fn chmod(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(Error::io(path))
}
