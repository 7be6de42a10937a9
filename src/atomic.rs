//! Whole-file writes that readers (and concurrent `pipe` processes) never see half
//! done, and that survive a crash: the file is synced before its rename, the
//! directory after it.

use std::io::Write;
use std::path::Path;

use crate::{durable, Error};

/// Writes to a uniquely named sibling, syncs it, renames it over `path`, syncs the directory.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = durable::parent(path);
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{:?}.tmp", std::process::id(), std::thread::current().id()));
    let mut file = std::fs::File::create(&tmp).map_err(Error::io(&tmp))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(Error::io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(Error::io(path))?;
    durable::sync(dir)
}

/// Pretty JSON (with a final newline), written atomically. Returns the bytes written.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<Vec<u8>, Error> {
    let bytes = json(path, value)?;
    write(path, &bytes)?;
    Ok(bytes)
}

/// Pretty JSON with a final newline, as every JSON file of pipe is written (`path` names
/// the file in the error).
pub fn json(path: &Path, value: &impl serde::Serialize) -> Result<Vec<u8>, Error> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(Error::corrupt(path))?;
    bytes.push(b'\n');
    Ok(bytes)
}
