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
    hash_listed(files(root)?)
}

/// Hashes the files a walk listed ([`files`], [`files_except`]), which refused the others.
pub fn hash_listed(files: Vec<(String, PathBuf)>) -> Result<Vec<FileHash>, StageError> {
    files
        .into_iter()
        .map(|(path, full)| hash_regular(&full).map(|(size, blake3)| FileHash { path, size, blake3 }))
        .collect()
}

/// Every regular file under `root` as (relative `/`-separated path, full path), sorted by
/// relative path, without reading any of them. A symbolic link is [`StageError::Link`].
pub fn files(root: &Path) -> Result<Vec<(String, PathBuf)>, StageError> {
    files_except(root, &mut |_, _| Ok(false))
}

/// Says of a path met in a walk (and whether it is a directory) whether to leave it out,
/// and for a directory all below it (`.dvcignore`).
pub type Skip<'a> = &'a mut dyn FnMut(&Path, bool) -> Result<bool, StageError>;

/// [`files`] without what `skip` leaves out: a directory it skips is not entered, so what
/// is below it (a link, say) is never met.
pub fn files_except(root: &Path, skip: Skip) -> Result<Vec<(String, PathBuf)>, StageError> {
    let mut files = Vec::new();
    walk(root, root, skip, &mut |item| {
        if let Found::File(rel, path) = item {
            files.push((rel, path.to_path_buf()));
        }
        Ok(())
    })?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// A tree's [`files`] and the empty directories of its [`Shape`], sorted: what a listing
/// must show to catch a directory as well as a file added to the tree.
pub struct Listing {
    pub files: Vec<(String, PathBuf)>,
    pub empty_dirs: Vec<String>,
}

/// The [`Listing`] of the tree under `root`, from one walk.
pub fn listing(root: &Path) -> Result<Listing, StageError> {
    let (mut files, mut empty_dirs) = (Vec::new(), Vec::new());
    walk(root, root, &mut |_, _| Ok(false), &mut |item| {
        match item {
            Found::File(rel, path) => files.push((rel, path.to_path_buf())),
            Found::EmptyDir(rel) => empty_dirs.push(rel),
        }
        Ok(())
    })?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    empty_dirs.sort();
    Ok(Listing { files, empty_dirs })
}

/// What a tree holds besides its files' contents, which a copy must keep too: the
/// directories with nothing in them (`mkdir logs`), and the files with the owner's
/// execute bit (a script a downstream stage runs). `/`-separated, sorted.
#[derive(Debug, Default, PartialEq)]
pub struct Shape {
    pub empty_dirs: Vec<String>,
    pub executable: Vec<String>,
}

/// The [`Shape`] of the tree under `root` (`root` itself is never an empty directory of it).
pub fn shape(root: &Path) -> Result<Shape, StageError> {
    let mut shape = Shape::default();
    walk(root, root, &mut |_, _| Ok(false), &mut |item| {
        match item {
            Found::EmptyDir(rel) => shape.empty_dirs.push(rel),
            Found::File(rel, path) if executable(path)? => shape.executable.push(rel),
            Found::File(..) => {}
        }
        Ok(())
    })?;
    shape.empty_dirs.sort();
    shape.executable.sort();
    Ok(shape)
}

/// Whether the owner may execute the file at `path`.
pub fn executable(path: &Path) -> Result<bool, StageError> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::symlink_metadata(path).map_err(StageError::io(path))?.permissions().mode() & 0o100 != 0)
}

/// What [`walk`] meets: a regular file, or a directory with no entry.
enum Found<'a> {
    File(String, &'a Path),
    EmptyDir(String),
}

/// Visits the tree under `dir`, less what `skip` leaves out; returns whether `dir` had any entry.
fn walk(
    root: &Path,
    dir: &Path,
    skip: Skip,
    visit: &mut dyn FnMut(Found) -> Result<(), StageError>,
) -> Result<bool, StageError> {
    let relative = |path: &Path| {
        let rel = path.strip_prefix(root).unwrap_or(path);
        rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
    };
    let mut any = false;
    for entry in fs::read_dir(dir).map_err(StageError::io(dir))? {
        let entry = entry.map_err(StageError::io(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(StageError::io(&path))?;
        if skip(&path, kind.is_dir())? {
            continue;
        }
        any = true;
        if let Some(e) = refused(&path, kind) {
            return Err(e);
        } else if kind.is_dir() {
            if !walk(root, &path, skip, visit)? {
                visit(Found::EmptyDir(relative(&path)))?;
            }
        } else {
            visit(Found::File(relative(&path), &path))?;
        }
    }
    Ok(any)
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

/// [`hash_file`] for a file a walk listed: it has already refused the others.
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

    #[test]
    fn shape_lists_empty_directories_at_any_depth_and_executable_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("logs")).unwrap();
        fs::create_dir_all(dir.path().join("a/b/c")).unwrap();
        fs::create_dir_all(dir.path().join("full")).unwrap();
        fs::write(dir.path().join("full/run.sh"), "#!/bin/sh\n").unwrap();
        fs::write(dir.path().join("full/data"), "x").unwrap();
        fs::set_permissions(dir.path().join("full/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        let shape = shape(dir.path()).unwrap();
        assert_eq!(shape.empty_dirs, ["a/b/c", "logs"], "a directory holding only a directory is not empty");
        assert_eq!(shape.executable, ["full/run.sh"]);
        assert_eq!(files(dir.path()).unwrap().len(), 2);
    }
}
