//! The md5s DVC 3 records in `dvc.lock` (`hash: md5`, `dvc_data/hashfile`): a file's is the
//! md5 of its bytes; a directory's is the md5 of its listing, `[{"md5": …, "relpath": …}, …]`
//! sorted by path and written as Python's `json.dumps(…, sort_keys=True)` writes it, then
//! `.dir` (`Tree.digest`). The listing leaves out what `.dvcignore` excludes, as DVC's walk does.

use std::fmt::Write as _;
use std::fs;
use std::io::BufReader;
use std::path::Path;

use md5::{Digest, Md5};

use super::dir_files;
use super::dvcignore::DvcIgnore;
use crate::StageError;

/// DVC's md5 of the file or directory at `path` (`<hex>` or `<hex>.dir`).
pub fn of(path: &Path, ignore: Option<&mut DvcIgnore>) -> Result<String, StageError> {
    if !fs::metadata(path).map_err(StageError::io(path))?.is_dir() {
        return file(path);
    }
    let mut listing = String::from("[");
    for (i, (rel, full)) in dir_files(path, ignore)?.into_iter().enumerate() {
        if i > 0 {
            listing.push_str(", ");
        }
        let _ = write!(listing, "{{\"md5\": \"{}\", \"relpath\": {}}}", file(&full)?, python_json(&rel));
    }
    listing.push(']');
    Ok(format!("{:x}.dir", Md5::digest(listing.as_bytes())))
}

/// The md5 of a file's bytes.
fn file(path: &Path) -> Result<String, StageError> {
    let mut reader = BufReader::with_capacity(1 << 16, fs::File::open(path).map_err(StageError::io(path))?);
    let mut hasher = Md5::new();
    std::io::copy(&mut reader, &mut hasher).map_err(StageError::io(path))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// A string as Python's `json.dumps` writes it (`ensure_ascii`): what is not printable ASCII
/// as `\uXXXX` (UTF-16, lowercase hex), `"` and `\` escaped, the usual short escapes.
fn python_json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values are DVC 3.67.1's, from the `dvc.lock` of `dvc repro` on these very trees.
    #[test]
    fn files_and_directories_hash_as_dvc_records_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |rel: &str, bytes: &[u8]| {
            let path = root.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
        };
        write(".dvcignore", b"*.tmp\nign/\n");
        write("data/a.txt", b"a\n");
        write("data/empty", b"");
        write("data/sub/crlf.txt", "h\u{e9}llo\r\nworld\r\n".as_bytes());
        write("data/sub/\u{e9}.txt", b"x");
        write("data/ign/z", b"z");
        write("data/x.tmp", b"t");
        write("data/b-c", b"ignore\n");
        write("f.txt", b"one\n");
        write("o/x", b"hi\n");
        fs::create_dir(root.join("e")).unwrap();
        let mut ignore = DvcIgnore::new(&fs::canonicalize(root).unwrap());
        assert_eq!(of(&root.join("f.txt"), None).unwrap(), "5bbf5a52328e7439ae6e719dfe712200");
        assert_eq!(of(&root.join("data"), Some(&mut ignore)).unwrap(), "acf986aea59f4dd69f8daf4adb39117a.dir");
        assert_eq!(of(&root.join("e"), None).unwrap(), "d751713988987e9331980363e24189ce.dir");
        assert_eq!(of(&root.join("o"), None).unwrap(), "08e38f389cb309b8dc5fa02670968800.dir");
        // Ignored files count once `.dvcignore` is not read: the listing changes.
        assert_ne!(of(&root.join("data"), None).unwrap(), "acf986aea59f4dd69f8daf4adb39117a.dir");
    }

    #[test]
    fn names_are_written_as_python_json_writes_them() {
        assert_eq!(python_json("a/b c.txt"), r#""a/b c.txt""#);
        assert_eq!(python_json("q\"\\\t\u{7f}"), r#""q\"\\\t\u007f""#);
        assert_eq!(python_json("\u{e9}\u{1f600}"), r#""\u00e9\ud83d\ude00""#);
    }
}
