//! Whole-file writes that readers (and concurrent `pipe` processes) never see half done.

use std::path::Path;

use crate::Error;

/// Writes to a uniquely named sibling, then renames it over `path`.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{:?}.tmp", std::process::id(), std::thread::current().id()));
    std::fs::write(&tmp, bytes).map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io(path))
}

/// Pretty JSON (with a final newline), written atomically. Returns the bytes written.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<Vec<u8>, Error> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(Error::corrupt(path))?;
    bytes.push(b'\n');
    write(path, &bytes)?;
    Ok(bytes)
}
