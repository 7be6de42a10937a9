//! File trees as pipe hashes them: every regular file under a directory, with its
//! `/`-separated relative path, size and blake3. Shell `deps` and artifact manifests
//! are hashed by the same code, so the two always agree. Symbolic links are never
//! followed: a link inside a tree could lead anywhere, so meeting one is an error.

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::StageError;

/// One file of a directory tree: its `/`-separated relative path, size and blake3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileHash {
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

/// Hashes every file under `root`, sorted by path.
pub fn hash_tree(root: &Path) -> Result<Vec<FileHash>, StageError> {
    files(root)?
        .into_iter()
        .map(|(path, full)| hash_regular(&full).map(|(size, blake3)| FileHash { path, size, blake3 }))
        .collect()
}

/// Every regular file under `root` as (relative `/`-separated path, full path), sorted by
/// relative path, without reading any of them. A symbolic link is [`StageError::Link`].
pub fn files(root: &Path) -> Result<Vec<(String, PathBuf)>, StageError> {
    let mut found = Vec::new();
    walk(root, root, &mut found)?;
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<(String, PathBuf)>) -> Result<(), StageError> {
    for entry in fs::read_dir(dir).map_err(StageError::io(dir))? {
        let entry = entry.map_err(StageError::io(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(StageError::io(&path))?;
        if let Some(e) = refused(&path, kind) {
            return Err(e);
        } else if kind.is_dir() {
            walk(root, &path, found)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            found.push((parts.join("/"), path));
        }
    }
    Ok(())
}

/// Why pipe does not read or store the file at `path` of type `kind`, if it does not: a
/// symbolic link is never followed, and a FIFO or device could block a read forever.
pub fn refused(path: &Path, kind: fs::FileType) -> Option<StageError> {
    use std::os::unix::fs::FileTypeExt;
    let what = match () {
        _ if kind.is_symlink() => return Some(StageError::Link(path.to_path_buf())),
        _ if kind.is_fifo() => "named pipe (FIFO)",
        _ if kind.is_socket() => "socket",
        _ if kind.is_block_device() || kind.is_char_device() => "device",
        _ => return None,
    };
    Some(StageError::Special(path.to_path_buf(), what))
}

/// Size and blake3 (hex) of one file, streamed; a FIFO or device is refused first.
pub fn hash_file(path: &Path) -> Result<(u64, String), StageError> {
    if let Some(e) = refused(path, fs::metadata(path).map_err(StageError::io(path))?.file_type()) {
        return Err(e);
    }
    hash_regular(path)
}

/// [`hash_file`] for a file `files` listed: its walk has already refused the others.
fn hash_regular(path: &Path) -> Result<(u64, String), StageError> {
    let file = fs::File::open(path).map_err(StageError::io(path))?;
    let mut hasher = blake3::Hasher::new();
    let size =
        std::io::copy(&mut BufReader::with_capacity(1 << 16, file), &mut hasher).map_err(StageError::io(path))?;
    Ok((size, hasher.finalize().to_hex().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_nested_files_in_path_order_and_refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("b")).unwrap();
        fs::write(dir.path().join("b/x"), "abc").unwrap();
        fs::write(dir.path().join("a"), "").unwrap();
        let tree = hash_tree(dir.path()).unwrap();
        let paths: Vec<&str> = tree.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a", "b/x"]);
        assert_eq!(tree[1].size, 3);
        assert_eq!(tree[1].blake3, blake3::hash(b"abc").to_hex().to_string());
        std::os::unix::fs::symlink("/etc", dir.path().join("b/out")).unwrap();
        let err = hash_tree(dir.path()).unwrap_err();
        assert!(matches!(&err, StageError::Link(p) if p.ends_with("b/out")), "{err}");
        fs::remove_file(dir.path().join("b/out")).unwrap();
        let made = std::process::Command::new("mkfifo").arg(dir.path().join("b/fifo")).status().unwrap();
        assert!(made.success());
        // Refused without opening it: an open would wait for a writer.
        let err = hash_tree(dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("b/fifo: a named pipe (FIFO); pipe reads and stores regular files and directories only"),
            "{err}"
        );
        assert!(matches!(hash_file(&dir.path().join("b/fifo")), Err(StageError::Special(..))));
    }
}
