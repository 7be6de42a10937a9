//! Whole-file writes that readers (and concurrent `pipe` processes) never see half
//! done, and that survive a crash: the file is synced before its rename, the
//! directory after it.

use std::io::Write;
use std::path::Path;

use crate::{durable, Error};

/// Writes to a uniquely named sibling, syncs it, renames it over `path`, syncs the directory.
/// On failure the sibling is removed and `path` is left as it was.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = durable::parent(path);
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{:?}.tmp", std::process::id(), std::thread::current().id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        // On a full disk the partial temporary would stay in the pipeline's directory (or the
        // cache), taking space; the error names the file it was for.
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path)(e));
    }
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
