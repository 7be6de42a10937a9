//! The remote cache: a second store on S3, GCS, Azure, an HTTP/WebDAV server or a
//! mounted directory, through the `object_store` crate. Layout under the URL:
//!
//! ```text
//! cas/<b3[..2]>/<b3>   a file, addressed by its blake3 (stored once however many artifacts hold it)
//! ac/<key>.json        an entry: the key's artifact hash and files (uploaded last)
//! locks/<op>-<pid>-<nanos>.json   a push or gc at work (`lock.rs`)
//! ```
//!
//! `collect` (pipe gc --remote) removes entries, then the files no entry names; it
//! and `push` exclude each other by their locks.
//!
//! Uploads are whole-object PUTs or multipart uploads, which every backend makes
//! visible only once complete, and an entry goes up only after all its files, so an
//! interrupted push leaves no visible artifact and two machines pushing one key
//! write identical bytes. A download is re-hashed file by file against the entry
//! and the whole artifact against its manifest and key before it is renamed into
//! the local store. An entry counts only with its files there (`Remote::incomplete`:
//! existence checks): status and pull do not take one whose files went for the
//! artifact, and push uploads them again.

pub mod collect;
pub mod config;
pub mod entry;
pub mod location;
pub mod lock;
pub mod meter;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload, PutPayloadMut, WriteMultipart};
use pipe_stages::tree::FileHash;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

use crate::store::{Artifact, KeyLock, Store};
use crate::Error;
use config::{ReadOnly, Settings};
use entry::{blob_path, entry_path, Entry};
use location::Location;
use meter::{Meter, Totals};

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The URL or the project file is wrong (exit code 2).
    #[error("{0}")]
    Config(String),
    /// The server is down, refused, or the credentials were rejected.
    #[error("remote {remote}: {message}")]
    Unreachable { remote: String, message: String },
    /// Downloaded bytes do not match what the entry promised; nothing entered the store.
    #[error("{0}")]
    Integrity(String),
    /// Uploads are refused: the message says why (`config::ReadOnly::refusal`).
    #[error("{0}")]
    ReadOnly(String),
    /// An entry that does not parse, is another key's, or is a directory: it counts as absent.
    #[error("remote {remote}: entry {path} {why}")]
    BrokenEntry { remote: String, path: String, why: String },
    /// An entry naming files the remote does not hold (`files`: each blob and file): it
    /// cannot be pulled whole.
    #[error("remote {remote}: entry {path} lists {files}, which the remote does not hold")]
    Incomplete { remote: String, path: String, files: String },
}

/// What a push or pull did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Report {
    /// Artifacts transferred.
    pub moved: usize,
    /// Artifacts already at the destination.
    pub present: usize,
    pub totals: Totals,
}

pub struct Remote {
    pub location: Location,
    objects: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    jobs: usize,
    read_only: Option<ReadOnly>,
    /// MiB that whole-file PUTs may hold (`IN_MEMORY_MIB`).
    in_memory: Semaphore,
}

impl Remote {
    /// Connects lazily: nothing is sent until the first transfer. `write` creates a missing `file://` directory.
    pub fn open(settings: &Settings, jobs: Option<usize>, write: bool) -> Result<Remote, Error> {
        if let (true, Some(why)) = (write, &settings.read_only) {
            return Err(why.refusal(&settings.location).into());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(Error::io("tokio runtime"))?;
        let objects = settings.location.open(write)?;
        Ok(Remote {
            location: settings.location.clone(),
            objects,
            runtime,
            jobs: jobs.unwrap_or(settings.jobs),
            read_only: settings.read_only.clone(),
            in_memory: Semaphore::new(IN_MEMORY_MIB as usize),
        })
    }

    /// The entries of `keys` on the remote (None where absent), fetched in parallel.
    async fn entries(&self, keys: &[String]) -> Vec<Result<Option<Entry>, Error>> {
        stream::iter(keys).map(|key| self.entry(key)).buffered(self.jobs).collect().await
    }

    /// One key's entry, None when absent; one that does not parse or names another key
    /// is a `BrokenEntry` error.
    async fn entry(&self, key: &str) -> Result<Option<Entry>, Error> {
        let path = StorePath::from(entry_path(key));
        let broken =
            |why: String| RemoteError::BrokenEntry { remote: self.location.to_string(), path: path.to_string(), why };
        let bytes = match self.objects.get(&path).await {
            Ok(got) => got.bytes().await.map_err(|e| self.failure(e))?,
            // `object_store` reads a directory as no object, and no upload can replace it.
            Err(object_store::Error::NotFound { .. }) if self.entry_dir(key).is_some() => {
                return Err(broken("is a directory, not a file".into()).into())
            }
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.failure(e)),
        };
        let entry: Entry = serde_json::from_slice(&bytes).map_err(|e| broken(format!("does not parse ({e})")))?;
        if entry.key != key {
            return Err(broken(format!("is for key {}", entry.key)).into());
        }
        Ok(Some(entry))
    }

    /// The entry of one key, if the remote has it. A broken entry counts as absent, with a
    /// warning: it cannot be pulled, and a push replaces it.
    pub fn lookup(&self, key: &str) -> Result<Option<Entry>, Error> {
        match self.runtime.block_on(self.entry(key)) {
            Err(Error::Remote(broken @ RemoteError::BrokenEntry { .. })) => {
                eprintln!(
                    "warning: {broken}: key {key} counts as not on the remote; `pipe push` from a store that has it replaces the entry, `pipe gc --remote` removes it"
                );
                Ok(None)
            }
            found => found,
        }
    }

    /// A lookup for [`crate::probe::probe_via`] ([`Remote::lookup`]) that keeps each entry
    /// it finds in `found`, by key.
    pub fn recorder<'a>(
        &'a self,
        found: &'a RefCell<BTreeMap<String, Entry>>,
    ) -> impl Fn(&str) -> Result<Option<String>, Error> + 'a {
        move |key| {
            let entry = self.lookup(key)?;
            let hash = entry.as_ref().map(|e| e.artifact.clone());
            found.borrow_mut().extend(entry.map(|e| (key.to_string(), e)));
            Ok(hash)
        }
    }

    /// The keys of `entries` whose entry is not whole on the remote, with what it lacks
    /// (see [`Remote::incomplete`]): keys a pull could not fetch.
    pub fn gaps<'e>(&self, entries: &'e BTreeMap<String, Entry>) -> Result<BTreeMap<&'e String, RemoteError>, Error> {
        let gaps = self.incomplete(&entries.values().collect::<Vec<_>>())?;
        Ok(entries.keys().zip(gaps).filter_map(|(key, gap)| Some((key, gap?))).collect())
    }

    /// For each entry, an `Incomplete` error where the remote lacks a file it lists (or
    /// holds one of another size, which a download refuses): a pull of it would fail.
    /// Existence checks, not downloads: one HEAD per content, in parallel.
    pub fn incomplete(&self, entries: &[&Entry]) -> Result<Vec<Option<RemoteError>>, Error> {
        let sizes: BTreeMap<&str, u64> =
            entries.iter().flat_map(|e| &e.files).map(|f| (f.blake3.as_str(), f.size)).collect();
        let heads = sizes.iter().map(|(blob, size)| async move {
            match self.objects.head(&StorePath::from(blob_path(blob))).await {
                Ok(meta) if meta.size == *size => Ok(None),
                Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(Some(*blob)),
                Err(e) => Err(self.failure(e)),
            }
        });
        let heads = self.runtime.block_on(stream::iter(heads).buffer_unordered(self.jobs).collect::<Vec<_>>());
        let lacking: HashSet<&str> = heads.into_iter().filter_map(Result::transpose).collect::<Result<_, _>>()?;
        let gap = |entry: &Entry| {
            let files: Vec<String> =
                (entry.files.iter().filter(|f| lacking.contains(f.blake3.as_str()))).map(blob_and_file).collect();
            (!files.is_empty()).then(|| RemoteError::Incomplete {
                remote: self.location.to_string(),
                path: entry_path(&entry.key),
                files: files.join(", "),
            })
        };
        Ok(entries.iter().map(|e| gap(e)).collect())
    }

    /// The path of a directory that sits where `key`'s entry belongs on a `file://` remote.
    fn entry_dir(&self, key: &str) -> Option<PathBuf> {
        Some(self.location.dir()?.join(entry_path(key))).filter(|path| path.is_dir())
    }

    /// Removes (`dry`: would remove) an empty directory where `key`'s entry belongs, which
    /// no upload can replace, and says whether there was one. One that holds anything is
    /// left to the user, named.
    fn clear_entry_dir(&self, key: &str, dry: bool) -> Result<bool, String> {
        let Some(dir) = self.entry_dir(key) else { return Ok(false) };
        let cleared = match dry {
            true => std::fs::read_dir(&dir).and_then(|mut inside| {
                inside.next().map_or(Ok(()), |_| Err(std::io::ErrorKind::DirectoryNotEmpty.into()))
            }),
            false => std::fs::remove_dir(&dir),
        };
        cleared.map(|()| true).map_err(|e| {
            format!(
                "{} is a directory where the entry of key {key} belongs, not removed ({e}): look inside, then remove it",
                dir.display()
            )
        })
    }

    /// Refuses when this remote takes no uploads, saying why.
    fn writable(&self) -> Result<(), Error> {
        match &self.read_only {
            Some(why) => Err(why.refusal(&self.location).into()),
            None => Ok(()),
        }
    }

    /// Uploads the artifacts not yet on the remote whole (replacing broken entries, and
    /// the files an entry lists that the remote lost): files first, then each entry.
    /// Holds a push lock throughout, and first waits while a gc holds one. An artifact
    /// that fails leaves the others to go up; then each failure is named on stderr and
    /// the push is an error.
    pub fn push(&self, artifacts: &[Artifact]) -> Result<Report, Error> {
        self.writable()?;
        if artifacts.is_empty() {
            return Ok(Report::default());
        }
        let held = self.hold(lock::Op::Push)?;
        self.runtime.block_on(self.wait_for(&held, lock::Op::Gc))?;
        // Instances sharing a key share its artifact: it goes up, and counts, once.
        let mut seen = HashSet::new();
        let artifacts: Vec<&Artifact> = artifacts.iter().filter(|a| seen.insert(a.key.as_str())).collect();
        let keys: Vec<String> = artifacts.iter().map(|a| a.key.clone()).collect();
        let there = self.runtime.block_on(self.entries(&keys));
        let (mut todo, mut unpushed, mut present, mut kept) = (Vec::new(), Vec::new(), 0, Vec::new());
        let (mut missing, mut found) = (Vec::new(), Vec::new());
        for (&artifact, there) in artifacts.iter().zip(there) {
            match there {
                Ok(Some(entry)) => found.push((artifact, entry)),
                Ok(None) => missing.push(artifact),
                Err(Error::Remote(broken @ RemoteError::BrokenEntry { .. })) => {
                    match self.clear_entry_dir(&artifact.key, false) {
                        Ok(_) => {
                            eprintln!("note: {broken}: this push replaces it");
                            missing.push(artifact);
                        }
                        Err(why) => unpushed.push(format!("key {}: not pushed: {why}", artifact.key)),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // An entry is trusted only with its files: one whose files went goes up again.
        let entries: Vec<&Entry> = found.iter().map(|(_, entry)| entry).collect();
        for ((artifact, entry), gap) in found.iter().zip(self.incomplete(&entries)?) {
            match gap {
                Some(gap) => {
                    eprintln!("note: {gap}: this push uploads it again");
                    missing.push(artifact);
                }
                None => {
                    present += 1;
                    kept.extend(&entry.files);
                }
            }
        }
        for artifact in missing {
            match Entry::of(artifact) {
                Ok(entry) => todo.push((artifact, entry)),
                Err(e) => unpushed.push(e.to_string()),
            }
        }
        // Each content once, from the first file holding it; the other files count as skipped.
        let mut blobs: BTreeMap<&str, (&FileHash, PathBuf, u64)> = BTreeMap::new();
        for (artifact, entry) in &todo {
            for f in &entry.files {
                blobs.entry(f.blake3.as_str()).or_insert((f, artifact.dir.join(&f.path), 0)).2 += 1;
            }
        }
        let meter = Meter::new("pushed", todo.iter().flat_map(|(_, e)| &e.files), &kept);
        let uploads = blobs.iter().map(|(blob, (f, src, copies))| async {
            let sent = self.upload(f, src, &meter).await;
            if sent.is_ok() {
                (1..*copies).for_each(|_| meter.file(f.size, false));
            }
            (*blob, sent)
        });
        let failed: HashMap<&str, String> =
            (self.runtime.block_on(stream::iter(uploads).buffer_unordered(self.jobs).collect::<Vec<_>>()))
                .into_iter()
                .filter_map(|(blob, sent)| Some((blob, sent.err()?.to_string())))
                .collect();
        let puts = todo.iter().map(|(_, entry)| async {
            if let Some((f, why)) = entry.files.iter().find_map(|f| Some((f, failed.get(f.blake3.as_str())?))) {
                return Err(format!("key {}: not pushed: file `{}`: {why}", entry.key, f.path));
            }
            let bytes = serde_json::to_vec_pretty(entry).map_err(|e| e.to_string())?;
            let path = StorePath::from(entry_path(&entry.key));
            let put = self.objects.put(&path, PutPayload::from(bytes)).await;
            put.map(drop).map_err(|e| format!("key {}: not pushed: {}", entry.key, self.failure(e)))
        });
        let put: Vec<Result<(), String>> =
            self.runtime.block_on(stream::iter(puts).buffer_unordered(self.jobs).collect());
        let totals = meter.finish();
        let moved = put.iter().filter(|p| p.is_ok()).count();
        unpushed.extend(put.into_iter().filter_map(Result::err));
        if unpushed.is_empty() {
            return Ok(Report { moved, present, totals });
        }
        for why in &unpushed {
            eprintln!("error: {why}");
        }
        Err(Error::Failed {
            message: format!(
                "{} of {} artifact(s) not pushed to {} (above); {moved} pushed, {present} already there",
                unpushed.len(),
                artifacts.len(),
                self.location
            ),
            config: false,
        })
    }

    /// Downloads `entries` into `store`: under each key's lock, into a private directory,
    /// every file re-hashed, then the whole artifact verified and renamed into place.
    /// Keys already in the store are skipped. Good artifacts enter even when another fails:
    /// the failures come back by key, beside the report of what entered.
    pub fn pull(&self, store: &Store, entries: &[Entry]) -> Result<(Report, Vec<(String, Error)>), Error> {
        // As a push of nothing: no summary of a transfer that was never asked for.
        if entries.is_empty() {
            return Ok(Default::default());
        }
        let mut work = Vec::new();
        let (mut present, mut kept) = (0, Vec::new());
        for entry in entries {
            entry.safe_paths()?;
            let lock = store.lock(&entry.key, || {})?;
            if store.lookup(&entry.key)?.is_some() {
                present += 1;
                kept.extend(&entry.files);
                continue;
            }
            let tmp = store.begin(&entry.key, &lock)?;
            work.push((entry, lock, tmp));
        }
        let meter = Meter::new("pulled", work.iter().flat_map(|(e, _, _)| &e.files), &kept);
        let outcomes = self.download(work.iter().map(|(e, _, tmp)| (*e, tmp.as_path())), &meter);
        let totals = meter.finish();
        let mut failed = Vec::new();
        for ((entry, lock, tmp), outcome) in work.iter().zip(outcomes) {
            if let Err(e) = outcome.and_then(|()| adopt(store, entry, tmp, lock).map(drop)) {
                let _ = store.discard(tmp);
                failed.push((entry.key.clone(), e));
            }
        }
        Ok((Report { moved: work.len() - failed.len(), present, totals }, failed))
    }

    /// One key for `pipe run`, whose caller holds the key's lock: Some when the remote had it.
    pub fn fetch(&self, store: &Store, key: &str, lock: &KeyLock) -> Result<Option<Artifact>, Error> {
        let Some(entry) = self.lookup(key)? else {
            return Ok(None);
        };
        entry.safe_paths()?;
        let tmp = store.begin(key, lock)?;
        let quiet = Meter::quiet();
        let outcome = self.download(std::iter::once((&entry, tmp.as_path())), &quiet).pop().unwrap_or(Ok(()));
        let adopted = outcome.and_then(|()| adopt(store, &entry, &tmp, lock));
        if adopted.is_err() {
            let _ = store.discard(&tmp);
        }
        adopted.map(Some)
    }

    /// Downloads the files of each (entry, directory); one result per entry. A content
    /// held by several files is downloaded once and copied locally to the others.
    fn download<'e>(
        &self,
        items: impl Iterator<Item = (&'e Entry, &'e Path)>,
        meter: &Meter,
    ) -> Vec<Result<(), Error>> {
        let items: Vec<_> = items.collect();
        let mut by_blob: BTreeMap<&str, Vec<(usize, &FileHash, PathBuf)>> = BTreeMap::new();
        for (i, (entry, dir)) in items.iter().enumerate() {
            for f in &entry.files {
                by_blob.entry(f.blake3.as_str()).or_default().push((i, f, dir.join(&f.path)));
            }
        }
        let entries: Vec<&Entry> = items.iter().map(|(e, _)| *e).collect();
        let entries = &entries;
        let gets = by_blob.values().map(|files| async move {
            let (i, f, dest) = &files[0];
            let mut result = self.get(entries[*i], f, dest, meter).await;
            for (_, other, copy) in &files[1..] {
                result = result.and_then(|()| copy_file(dest, copy));
                if result.is_ok() {
                    meter.file(other.size, false);
                }
            }
            (files, result)
        });
        let done: Vec<_> = self.runtime.block_on(stream::iter(gets).buffer_unordered(self.jobs).collect());
        let mut results: Vec<Result<(), Error>> = items.iter().map(|_| Ok(())).collect();
        for (files, result) in done {
            let Err(e) = result else { continue };
            let (first, _, _) = files[0];
            for &(i, f, _) in &files[1..] {
                if i != first && results[i].is_ok() {
                    let why = format!("same content as key {} file `{}`: {e}", items[first].0.key, files[0].1.path);
                    let what = format!("key {} file `{}`: {why}", items[i].0.key, f.path);
                    results[i] = Err(RemoteError::Integrity(what).into());
                }
            }
            if results[first].is_ok() {
                results[first] = Err(e);
            }
        }
        results
    }

    async fn get(&self, entry: &Entry, file: &FileHash, dest: &Path, meter: &Meter) -> Result<(), Error> {
        let path = StorePath::from(blob_path(&file.blake3));
        let refuse = |what: String| -> Error {
            RemoteError::Integrity(format!("key {} file `{}`: {what}; nothing entered the store", entry.key, file.path))
                .into()
        };
        let got = match self.objects.get(&path).await {
            Ok(got) => got,
            // Not damage: the entry outlived its file (gc raced a reader, a hand deletion), as `incomplete` finds.
            Err(object_store::Error::NotFound { .. }) => {
                return Err(RemoteError::Incomplete {
                    remote: self.location.to_string(),
                    path: entry_path(&entry.key),
                    files: blob_and_file(file),
                }
                .into())
            }
            Err(e) => return Err(self.failure(e)),
        };
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        let mut out = std::fs::File::create(dest).map_err(Error::io(dest))?;
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        let mut chunks = got.into_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| self.failure(e))?;
            size += chunk.len() as u64;
            if size > file.size {
                return Err(refuse(format!("the remote sent more than the {} bytes of the entry", file.size)));
            }
            hasher.update(&chunk);
            out.write_all(&chunk).map_err(Error::io(dest))?;
        }
        let hash = hasher.finalize().to_hex().to_string();
        if size != file.size || hash != file.blake3 {
            // Push skips an artifact whose entry is there, and a blob there at the right size.
            return Err(refuse(format!(
                "downloaded {size} bytes with blake3 {hash}, the entry says {} bytes with blake3 {}: the blob {path} \
                 on {} is damaged; delete it and the entry {} there, and a `pipe push` from a store that has the \
                 artifact uploads both again",
                file.size,
                file.blake3,
                self.location,
                entry_path(&entry.key)
            )));
        }
        meter.file(size, true);
        Ok(())
    }

    /// Uploads one file unless a blob of its hash and size is already there: in parts,
    /// read from disk as they go, where the backend takes multipart uploads and the
    /// file is larger than a part; else in one PUT from memory, within `IN_MEMORY_MIB`.
    async fn upload(&self, file: &FileHash, src: &Path, meter: &Meter) -> Result<(), Error> {
        let path = StorePath::from(blob_path(&file.blake3));
        match self.objects.head(&path).await {
            Ok(meta) if meta.size == file.size => {
                meter.file(file.size, false);
                return Ok(());
            }
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.failure(e)),
        }
        let multipart = if file.size > PART as u64 {
            match self.objects.put_multipart(&path).await {
                Ok(upload) => Some(WriteMultipart::new_with_chunk_size(upload, PART)),
                Err(object_store::Error::NotImplemented) => None,
                Err(e) => return Err(self.failure(e)),
            }
        } else {
            None
        };
        let (mut sink, _held) = match multipart {
            Some(parts) => (Sink::Parts(parts), None),
            None => {
                let mib = file.size.div_ceil(1 << 20).clamp(1, u64::from(IN_MEMORY_MIB)) as u32;
                let held = self.in_memory.acquire_many(mib).await;
                let held = held.map_err(|e| Error::Failed { message: e.to_string(), config: false })?;
                let block = file.size.clamp(1, PART as u64) as usize;
                (Sink::Memory(PutPayloadMut::new().with_block_size(block)), Some(held))
            }
        };
        let read = self.read_into(&mut sink, file, src).await;
        let sent = match (read, sink) {
            (Ok(()), Sink::Parts(parts)) => parts.finish().await.map(drop),
            (Ok(()), Sink::Memory(payload)) => self.objects.put(&path, payload.freeze()).await.map(drop),
            // Nothing becomes visible: an unfinished multipart upload is no object.
            (Err(e), Sink::Parts(parts)) => {
                let _ = parts.abort().await;
                return Err(e);
            }
            (Err(e), Sink::Memory(_)) => return Err(e),
        };
        sent.map_err(|e| self.failure(e))?;
        meter.file(file.size, true);
        Ok(())
    }

    /// Reads `src` into `sink` piece by piece, hashing as it goes, and refuses a file
    /// that no longer has the hash it had when it entered the store.
    async fn read_into(&self, sink: &mut Sink, file: &FileHash, src: &Path) -> Result<(), Error> {
        let mut reader = tokio::fs::File::open(src).await.map_err(Error::io(src))?;
        let mut hasher = blake3::Hasher::new();
        let mut piece = vec![0u8; READ];
        loop {
            let n = reader.read(&mut piece).await.map_err(Error::io(src))?;
            if n == 0 {
                break;
            }
            hasher.update(&piece[..n]);
            match sink {
                Sink::Parts(parts) => {
                    parts.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(|e| self.failure(e))?;
                    parts.write(&piece[..n]);
                }
                Sink::Memory(payload) => payload.extend_from_slice(&piece[..n]),
            }
        }
        if hasher.finalize().to_hex().as_str() != file.blake3 {
            return Err(Error::Corrupt { path: src.to_path_buf(), message: "changed while being pushed".into() });
        }
        Ok(())
    }

    fn failure(&self, e: object_store::Error) -> Error {
        RemoteError::Unreachable { remote: self.location.to_string(), message: self.location.mask(&e.to_string()) }
            .into()
    }

    /// [`Remote::failure`], saying what pipe was doing (`cannot write its lock …`).
    fn failure_while(&self, doing: &str, e: object_store::Error) -> Error {
        let message = format!("{doing}: {}", self.location.mask(&e.to_string()));
        RemoteError::Unreachable { remote: self.location.to_string(), message }.into()
    }
}

/// Multipart uploads' part size: above S3's 5 MiB minimum, and the size from which a
/// file is streamed rather than read whole.
const PART: usize = 8 << 20;

/// Parts of one file uploading while the next fills: with `PART`, what a streamed
/// upload holds is about 16 MiB however large the file.
const PARTS_IN_FLIGHT: usize = 1;

/// Bytes read from the file at a time (they go on into the part being filled).
const READ: usize = 1 << 20;

/// What whole-file PUTs (backends without multipart upload: HTTP) may hold in memory
/// together; a larger file waits until it can hold all of it alone.
const IN_MEMORY_MIB: u32 = 128;

/// Where an upload's bytes go: a multipart upload, or a payload for one PUT. Either
/// is built from blocks of at most `PART` bytes, which the allocator reuses from file
/// to file (one allocation per file would stay with glibc: `runtime::keep_freed_memory`).
enum Sink {
    Parts(WriteMultipart),
    Memory(PutPayloadMut),
}

/// How an `Incomplete` error names a file the remote lacks: its blob and its path in the artifact.
fn blob_and_file(file: &FileHash) -> String {
    format!("{} (file `{}`)", blob_path(&file.blake3), file.path)
}

/// A local copy of a downloaded file (a reflink where the filesystem offers one).
fn copy_file(from: &Path, to: &Path) -> Result<(), Error> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    std::fs::copy(from, to).map(drop).map_err(Error::io(to))
}

/// Verifies a downloaded directory against its entry, then commits it into the store
/// (which re-hashes every file against the manifest, stamps, seals and syncs it).
fn adopt(store: &Store, entry: &Entry, tmp: &Path, lock: &KeyLock) -> Result<Artifact, Error> {
    entry.verify(tmp)?;
    store.import(tmp, &entry.key, lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `dir`, relative, sorted (staged uploads included).
    fn files(dir: &Path) -> Vec<String> {
        pipe_stages::tree::files(dir).unwrap().into_iter().map(|(path, _)| path).collect()
    }

    #[test]
    fn a_file_changed_since_it_was_hashed_leaves_nothing_on_the_remote_in_parts_or_whole() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/remote", dir.path().display());
        let remote = Remote::open(&config::required(dir.path(), Some(&url)).unwrap(), None, true).unwrap();
        // Under a part (one PUT) and over two parts (a multipart upload, staged on file://).
        for size in [1000, 2 * PART + 5] {
            let src = dir.path().join("f");
            let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            std::fs::write(&src, &bytes).unwrap();
            let right =
                FileHash { path: "f".into(), size: size as u64, blake3: blake3::hash(&bytes).to_hex().to_string() };
            let stale = FileHash { blake3: blake3::hash(b"what it held before").to_hex().to_string(), ..right.clone() };
            let err = remote.runtime.block_on(remote.upload(&stale, &src, &Meter::quiet())).unwrap_err();
            assert!(err.to_string().contains("changed while being pushed"), "{err}");
            assert_eq!(files(&dir.path().join("remote")), Vec::<String>::new(), "size {size}");

            remote.runtime.block_on(remote.upload(&right, &src, &Meter::quiet())).unwrap();
            let blob = dir.path().join("remote").join(blob_path(&right.blake3));
            assert_eq!(std::fs::read(&blob).unwrap(), bytes, "size {size}");
            std::fs::remove_file(blob).unwrap();
        }
    }
}
