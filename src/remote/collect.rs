//! Garbage collection on the remote: the entries outside a keep set go, then every
//! file no remaining entry references. Anything uploaded within a grace stays, because
//! a push in flight uploads its files before its entry and its entry after gc listed.
//! The grace is counted on the remote's clock, which stamped the uploads. gc holds a lock
//! on the remote throughout and refuses while a push holds one (`lock.rs`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};
use object_store::path::Path as StorePath;
use object_store::ObjectMeta;

use super::entry::{blob_path, entry_path, Entry};
use super::location::Kind;
use super::lock::{Op, STALE};
use super::{Remote, RemoteError};
use crate::Error;

/// What a collection removed (or, dry, would remove) and what it kept.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Collected {
    pub entries: usize,
    /// Of `entries`: kept by the rules, but naming a file the remote no longer has, or unreadable.
    pub broken: usize,
    pub files: usize,
    pub bytes: u64,
    pub kept_entries: usize,
    pub kept_files: usize,
    pub kept_bytes: u64,
    /// The remote's clock minus this machine's, in seconds (to the remote's resolution).
    pub clock_offset: f64,
    /// Uploads that interrupted pushes left staged in a `file://` remote, and their bytes.
    pub unfinished: usize,
    pub unfinished_bytes: u64,
}

impl Remote {
    /// Removes every entry whose key is not in `keep` and that was uploaded more than
    /// `grace` ago, every entry that can no longer be downloaded whole, then every file
    /// no remaining entry names that was uploaded more than `grace` ago. Entries go
    /// first, so a reader never finds an entry whose files are gone.
    pub fn collect(&self, keep: &HashSet<String>, grace: Duration, dry_run: bool) -> Result<Collected, Error> {
        self.writable()?;
        // Held until the end, written also by a dry run: its time is the remote's clock.
        let before = SystemTime::now();
        let held = self.hold(Op::Gc)?;
        let (now, here) = (held.written, between(before, SystemTime::now(), held.written));
        self.runtime.block_on(async {
            if let Some(push) = self.live(&held, Op::Push, !dry_run).await?.first() {
                return Err(Error::Busy(format!(
                    "remote {}: {} is in flight (lock {}, rewritten {} s ago{}): gc could remove a file it is about to name; retry when it has finished (a lock not rewritten for {} min, or left by a process of this host that is gone, is dead and removed)",
                    self.location,
                    push.claim,
                    push.path,
                    push.age.as_secs(),
                    push.advice(),
                    STALE.as_secs() / 60
                )));
            }
            let clock_offset = match now.duration_since(here) {
                Ok(ahead) => ahead.as_secs_f64(),
                Err(behind) => -behind.duration().as_secs_f64(),
            };
            let cutoff = now.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
            // Entries before files: a file uploaded after this listing belongs to an
            // entry this listing missed, and is younger than the cutoff.
            let (listed_entries, entry_dirs) = self.walk("ac").await?;
            let (listed_files, _) = self.walk("cas").await?;
            // Strictly after: times may be whole seconds, and a grace of 0s keeps nothing.
            let recent = |meta: &ObjectMeta| SystemTime::from(meta.last_modified) > cutoff;
            let files: HashMap<String, &ObjectMeta> = listed_files
                .iter()
                .filter_map(|meta| Some((meta.location.filename()?.to_string(), meta)))
                .filter(|(name, meta)| meta.location.as_ref() == blob_path(name))
                .collect();

            // What a directory where an entry belongs holds is the user's: `clear_entry_dir` names it.
            let in_entry_dir =
                |path: &StorePath| entry_dirs.iter().any(|dir| key_of(dir).is_some() && path.prefix_matches(dir));
            let mut doomed: Vec<StorePath> = Vec::new();
            let mut wanted: Vec<String> = Vec::new();
            for meta in listed_entries.iter().filter(|meta| !in_entry_dir(&meta.location)) {
                match key_of(&meta.location) {
                    Some(key) if keep.contains(&key) || recent(meta) => wanted.push(key),
                    _ => doomed.push(meta.location.clone()),
                }
            }
            let mut report = Collected { entries: doomed.len(), clock_offset, ..Collected::default() };
            for key in entry_dirs.iter().filter_map(key_of) {
                match self.clear_entry_dir(&key, dry_run) {
                    Ok(true) => {
                        report.entries += 1;
                        report.broken += 1;
                    }
                    Ok(false) => {}
                    Err(why) => eprintln!("warning: remote {}: {why}", self.location),
                }
            }
            let read = stream::iter(&wanted).map(|key| self.entry(key)).buffered(self.jobs).collect::<Vec<_>>().await;
            let mut kept: Vec<Entry> = Vec::new();
            for (key, entry) in wanted.iter().zip(read) {
                match entry {
                    Ok(Some(entry)) if entry.files.iter().all(|f| files.contains_key(&f.blake3)) => kept.push(entry),
                    // Removed since the listing: nothing to do.
                    Ok(None) => {}
                    Ok(Some(_)) | Err(Error::Remote(RemoteError::BrokenEntry { .. })) => {
                        report.entries += 1;
                        report.broken += 1;
                        doomed.push(StorePath::from(entry_path(key)));
                    }
                    Err(e) => return Err(e),
                }
            }
            report.kept_entries = kept.len();
            let referenced: HashSet<&str> =
                kept.iter().flat_map(|e| e.files.iter().map(|f| f.blake3.as_str())).collect();
            let mut unreferenced = Vec::new();
            for (name, meta) in &files {
                if referenced.contains(name.as_str()) || recent(meta) {
                    report.kept_files += 1;
                    report.kept_bytes += meta.size;
                } else {
                    report.files += 1;
                    report.bytes += meta.size;
                    unreferenced.push(meta.location.clone());
                }
            }
            let staged = match self.location.dir() {
                Some(dir) => unfinished(&dir, cutoff)?,
                None => Vec::new(),
            };
            report.unfinished = staged.len();
            report.unfinished_bytes = staged.iter().map(|(_, size)| size).sum();
            if !dry_run {
                self.delete(doomed).await?;
                self.delete(unreferenced).await?;
                for (path, _) in &staged {
                    crate::store::remove(path)?;
                }
            }
            Ok(report)
        })
    }

    /// Every object under `prefix`, and every directory, a level at a time: WebDAV servers
    /// (nginx's dav-ext module) refuse the recursive listing `ObjectStore::list` sends.
    async fn walk(&self, prefix: &str) -> Result<(Vec<ObjectMeta>, Vec<StorePath>), Error> {
        let (mut objects, mut dirs, mut level) = (Vec::new(), Vec::new(), vec![StorePath::from(prefix)]);
        while !level.is_empty() {
            let listings = stream::iter(&level)
                .map(|dir| self.objects.list_with_delimiter(Some(dir)))
                .buffer_unordered(self.jobs)
                .collect::<Vec<_>>()
                .await;
            let mut next = Vec::new();
            for listing in listings {
                let listing = listing.map_err(|e| self.unlisted(e))?;
                objects.extend(listing.objects);
                next.extend(listing.common_prefixes);
            }
            dirs.extend(next.iter().cloned());
            level = next;
        }
        Ok((objects, dirs))
    }

    pub(super) async fn delete(&self, paths: Vec<StorePath>) -> Result<(), Error> {
        let deletes = stream::iter(&paths).map(|path| async move {
            match self.objects.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.failure(e)),
            }
        });
        deletes.buffer_unordered(self.jobs).collect::<Vec<_>>().await.into_iter().collect()
    }

    pub(super) fn unlisted(&self, e: object_store::Error) -> Error {
        let hint = match self.location.kind {
            // nginx's own dav module has no PROPFIND.
            Kind::Http => " (an http remote must answer WebDAV PROPFIND with Depth 1: for nginx, load the dav-ext module and set `dav_ext_methods PROPFIND OPTIONS;`)",
            _ => "",
        };
        match self.failure(e) {
            Error::Remote(RemoteError::Unreachable { remote, message }) => {
                RemoteError::Unreachable { remote, message: format!("cannot list its objects: {message}{hint}") }.into()
            }
            other => other,
        }
    }
}

/// The staged uploads under a `file://` remote's directory last written before `cutoff`,
/// with their sizes: `object_store` writes each object to `<name>#<n>` and renames it when
/// complete, and neither lists nor removes what a killed push left.
fn unfinished(dir: &Path, cutoff: SystemTime) -> Result<Vec<(PathBuf, u64)>, Error> {
    let staged =
        |name: &str| name.split_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(Error::io(&dir))? {
            let entry = entry.map_err(Error::io(&dir))?;
            let meta = entry.metadata().map_err(Error::io(entry.path()))?;
            if meta.is_dir() {
                dirs.push(entry.path());
            } else if staged(&entry.file_name().to_string_lossy()) && meta.modified().is_ok_and(|t| t <= cutoff) {
                found.push((entry.path(), meta.len()));
            }
        }
    }
    Ok(found)
}

/// This machine's time when the remote stamped `stamp`, to the stamp's resolution: the
/// middle of the request, in whole seconds where the remote gives whole seconds.
fn between(before: SystemTime, after: SystemTime, stamp: SystemTime) -> SystemTime {
    let middle = before + after.duration_since(before).unwrap_or_default() / 2;
    let since = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    match since(stamp).subsec_nanos() {
        0 => SystemTime::UNIX_EPOCH + Duration::from_secs(since(middle).as_secs()),
        _ => middle,
    }
}

/// The key an `ac/<key>.json` path holds; None for anything else found there.
fn key_of(path: &StorePath) -> Option<String> {
    let key = path.filename()?.strip_suffix(".json")?;
    (path.as_ref() == entry_path(key)).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machines_time_is_taken_to_the_remotes_resolution() {
        let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        // A stamp in whole seconds: the request's middle (10.9 s) counts as 10 s.
        assert_eq!(between(at(10_800), at(11_000), at(7_000)), at(10_000));
        assert_eq!(between(at(10_800), at(11_000), at(7_250)), at(10_900));
    }

    #[test]
    fn only_entry_paths_name_a_key() {
        assert_eq!(key_of(&StorePath::from("ac/k1.json")), Some("k1".to_string()));
        assert_eq!(key_of(&StorePath::from("ac/sub/k1.json")), None);
        assert_eq!(key_of(&StorePath::from("ac/k1.txt")), None);
    }
}
