//! Run records, `<cache>/runs/<id>.json`: what every instance of one `pipe run`
//! resolved to. Ids sort by time (`20261130T051500.123Z-1a2b`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use pipe_stages::Registry;

use crate::plan::Instance;
use crate::store::{read_json, remove, Store};
use crate::{atomic, suggest, Error};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The artifact was already in the store.
    Cached,
    /// Computed in this run.
    Ran,
    /// A dvc.yaml stage's outs, as the `dvc repro` its `dvc.lock` records left them in the
    /// workspace, taken by this run as its artifact without running its command.
    Adopted,
    /// Downloaded from the remote cache by this run instead of being computed.
    Pulled,
    Failed,
    /// Not attempted because an upstream failed or the run was interrupted.
    Skipped,
    /// Running when the run was interrupted; no artifact was made.
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Cached => "cached",
            Status::Ran => "ran",
            Status::Adopted => "adopted",
            Status::Pulled => "pulled",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Interrupted => "interrupted",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub pipeline: String,
    pub file: PathBuf,
    /// UTC, ISO 8601.
    pub started: String,
    pub seconds: f64,
    pub ok: bool,
    /// Stopped by SIGINT or SIGTERM before every stage was done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Written when the run first computed or pulled an instance, its stages in its
    /// [`Journal`]; a record still marked so was left by a run killed outright (SIGKILL, a
    /// power loss). It names the artifacts that run completed, so `pipe gc` keeps them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_progress: bool,
    /// The `--set` and `--stage` arguments, as given.
    pub overrides: Vec<String>,
    pub selected: Vec<String>,
    pub stages: Vec<StageRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub instance: String,
    pub stage: String,
    pub kind: String,
    pub status: Status,
    pub key: Option<String>,
    pub artifact: Option<String>,
    pub seconds: f64,
    pub params: Value,
    pub metrics: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The output of the cluster job that last computed (or tried to compute) this
    /// instance, relative to the cache; `pipe gc` keeps it while the record stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl StageRecord {
    /// The record of `inst` with `status`, nothing known yet of its key or artifact.
    pub fn of(inst: &Instance, registry: &Registry, status: Status) -> StageRecord {
        StageRecord {
            instance: inst.name.clone(),
            stage: inst.stage.clone(),
            kind: inst.kind.clone(),
            status,
            key: None,
            artifact: None,
            seconds: 0.0,
            params: registry.shown(&inst.kind, &inst.params),
            metrics: Map::new(),
            error: None,
            log: None,
        }
    }
}

impl RunRecord {
    /// Writes the record; a finished one replaces its journal, which is then removed.
    pub fn save(&self, store: &Store) -> Result<PathBuf, Error> {
        let path = path(store, &self.id);
        atomic::write_json(&path, self)?;
        if !self.in_progress {
            remove(&journal_path(store, &self.id))?;
        }
        Ok(path)
    }

    pub fn stage(&self, instance: &str) -> Option<&StageRecord> {
        self.stages.iter().find(|s| s.instance == instance)
    }
}

/// Ids of all recorded runs, oldest first.
pub fn list(store: &Store) -> Result<Vec<String>, Error> {
    let dir = store.runs_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir)(e)),
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
        .filter(|id| !id.starts_with('.'))
        .collect();
    ids.sort();
    Ok(ids)
}

/// A run's record, with the stages its journal names while it is in progress.
pub fn load(store: &Store, id: &str) -> Result<RunRecord, Error> {
    let mut record: RunRecord = read_json(&path(store, id))?;
    if record.in_progress {
        record.stages.extend(journaled(store, id)?);
    }
    Ok(record)
}

/// What a run has done so far, kept as it goes: a run killed outright writes no final record,
/// and `pipe gc` keeps what records name. Nothing is written until an instance is computed
/// or pulled; then `<id>.journal` gets a JSON line per instance done (synced), and the record,
/// in progress and naming no stage itself, appears beside it. Rewriting the whole record after
/// each instance instead wrote O(n²) bytes (bench/README.md).
pub struct Journal {
    head: RunRecord,
    file: Option<File>,
    /// Lines of instances done since the last one computed or pulled, not written yet.
    waiting: Vec<u8>,
    /// The journal's length: where a write cut short is cut back to.
    written: u64,
}

impl Journal {
    /// The journal of the run `head` records (in progress, no stages).
    pub fn new(head: RunRecord) -> Journal {
        Journal { head, file: None, waiting: Vec::new(), written: 0 }
    }

    /// Adds an instance's stage; one it computed or pulled (`made`) is written and synced
    /// with the lines before it, so the record never names less than the store holds.
    pub fn add(&mut self, store: &Store, stage: &StageRecord, made: bool) -> Result<(), Error> {
        let path = journal_path(store, &self.head.id);
        serde_json::to_writer(&mut self.waiting, stage).map_err(Error::corrupt(&path))?;
        self.waiting.push(b'\n');
        if !made {
            return Ok(());
        }
        let first = self.file.is_none();
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let dir = store.runs_dir();
                std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
                let file = OpenOptions::new().create(true).append(true).open(&path).map_err(Error::io(&path))?;
                self.file.insert(file)
            }
        };
        if let Err(e) = file.write_all(&self.waiting).and_then(|()| file.sync_data()) {
            // A line cut short (a full disk) is taken back, and written again with the next:
            // once there is room, a line appended after the fragment would make the journal unreadable.
            let _ = file.set_len(self.written);
            return Err(Error::io(&path)(e));
        }
        self.written += self.waiting.len() as u64;
        self.waiting.clear();
        if first {
            // Its rename syncs the runs directory, and with it the journal's name.
            self.head.save(store)?;
        }
        Ok(())
    }
}

/// The stages a run's journal names. A last line without its newline was being written
/// when the run was killed: it is left out.
fn journaled(store: &Store, id: &str) -> Result<Vec<StageRecord>, Error> {
    let path = journal_path(store, id);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path)(e)),
    };
    let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
    complete.lines().map(|line| serde_json::from_str(line).map_err(Error::corrupt(&path))).collect()
}

/// Every run record that can be read, oldest first. Records are written whole (renamed
/// into place) and journals a whole line at a time, so an unreadable one was damaged from
/// outside: it is named and skipped, and the history around it still shows.
pub fn readable(store: &Store) -> Result<Vec<RunRecord>, Error> {
    let mut records = Vec::new();
    for id in list(store)? {
        match load(store, &id) {
            Ok(record) => records.push(record),
            Err(Error::Corrupt { path, message }) => skipped(&path, &message),
            Err(e) => return Err(e),
        }
    }
    Ok(records)
}

/// A run by id, unique id prefix, or `latest`.
pub fn find(store: &Store, wanted: &str) -> Result<RunRecord, Error> {
    // Every id starts with "": an empty one would be "ambiguous", not the mistake it is.
    if wanted.is_empty() {
        return Err(Error::Config(
            "a run id is empty: give an id, a unique prefix of one or `latest` (see `pipe runs`)".into(),
        ));
    }
    let ids = list(store)?;
    if wanted == "latest" {
        return latest(store, &ids);
    }
    let found: Vec<&String> = ids.iter().filter(|id| id.starts_with(wanted)).collect();
    match found.as_slice() {
        [id] => load(store, id),
        [] => Err(Error::Config(format!(
            "no run `{wanted}` in {}{} (see `pipe runs`)",
            store.runs_dir().display(),
            suggest::hint(wanted, ids.iter().map(String::as_str))
        ))),
        many => Err(Error::Config(format!("run `{wanted}` is ambiguous: {} runs match", many.len()))),
    }
}

fn skipped(path: &Path, message: &str) {
    eprintln!("warning: {}: not a run record pipe can read ({message}); skipped", path.display())
}

/// The newest run record pipe can read, with a warning for each newer one it skips (as
/// [`readable`] warns): a damaged record must not hide the runs before it.
fn latest(store: &Store, ids: &[String]) -> Result<RunRecord, Error> {
    for id in ids.iter().rev() {
        match load(store, id) {
            Err(Error::Corrupt { path, message }) => skipped(&path, &message),
            other => return other,
        }
    }
    Err(Error::Config(format!("no run in {} that pipe can read (see `pipe runs`)", store.runs_dir().display())))
}

/// A new run id: UTC time to the millisecond plus 4 hex digits against collisions.
pub fn new_id(now: SystemTime) -> String {
    let t = Utc::of(now);
    let salt = blake3::hash(format!("{}:{:?}", std::process::id(), now).as_bytes()).to_hex();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z-{}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.milli,
        &salt[..4]
    )
}

/// ISO 8601 UTC timestamp.
pub fn timestamp(now: SystemTime) -> String {
    let t = Utc::of(now);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", t.year, t.month, t.day, t.hour, t.minute, t.second, t.milli)
}

/// Calendar fields of a UTC time (no date crate needed for two formats).
struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    milli: u32,
}

impl Utc {
    fn of(now: SystemTime) -> Utc {
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        // Howard Hinnant's days-to-civil algorithm.
        let z = (secs / 86_400) as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let rem = secs % 86_400;
        Utc {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            milli: since.subsec_millis(),
        }
    }
}

/// The path a run record of `id` has.
pub fn path(store: &Store, id: &str) -> PathBuf {
    store.runs_dir().join(format!("{id}.json"))
}

/// The path of the [`Journal`] of run `id`.
pub fn journal_path(store: &Store, id: &str) -> PathBuf {
    store.runs_dir().join(format!("{id}.journal"))
}

/// Shows `path` relative to the current directory when it is below it.
pub fn display(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_and_timestamps_are_utc_calendar_times() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_016_900_123); // 2026-11-30T05:35:00.123Z
        assert_eq!(timestamp(t), "2026-11-30T05:35:00.123Z");
        assert!(new_id(t).starts_with("20261130T053500.123Z-"));
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn a_journal_line_cut_short_by_a_full_disk_is_taken_back() {
        // RLIMIT_FSIZE cuts a write short as a full disk does, but for the whole process: the
        // test runs again alone in a child, which sets it.
        const NAME: &str = "record::tests::a_journal_line_cut_short_by_a_full_disk_is_taken_back";
        if std::env::var_os("PIPE_TEST_FILE_SIZE_LIMIT").is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--test-threads", "1"])
                .env("PIPE_TEST_FILE_SIZE_LIMIT", "1")
                .output()
                .unwrap();
            let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success() && said.contains("1 passed"), "the child test:\n{said}");
            return;
        }
        let limit = |bytes: libc::rlim_t| {
            let mut now = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: plain getrlimit/setrlimit on a local struct.
            unsafe {
                assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut now), 0);
                let want = libc::rlimit { rlim_cur: bytes.min(now.rlim_max), rlim_max: now.rlim_max };
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &want), 0);
            }
        };
        // SAFETY: ignoring a signal; the write past the limit then fails with EFBIG instead.
        unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path()).unwrap();
        let id = "20261207T000000.000Z-0000";
        let head = RunRecord {
            id: id.into(),
            pipeline: "p".into(),
            file: "p.yaml".into(),
            started: String::new(),
            seconds: 0.0,
            ok: false,
            interrupted: false,
            in_progress: true,
            overrides: Vec::new(),
            selected: Vec::new(),
            stages: Vec::new(),
        };
        let stage = |name: &str| StageRecord {
            instance: name.into(),
            stage: name.into(),
            kind: "shell".into(),
            status: Status::Ran,
            key: Some(format!("key-of-{name}")),
            artifact: None,
            seconds: 0.0,
            params: Value::Null,
            metrics: Map::new(),
            error: None,
            log: None,
        };
        let mut journal = Journal::new(head);
        journal.add(&store, &stage("a"), true).unwrap();
        let one_line = std::fs::metadata(journal_path(&store, id)).unwrap().len();
        limit(one_line + 10);
        journal.add(&store, &stage("b"), true).unwrap_err();
        assert_eq!(std::fs::metadata(journal_path(&store, id)).unwrap().len(), one_line, "the fragment stays");
        limit(libc::RLIM_INFINITY);
        journal.add(&store, &stage("c"), true).unwrap();
        let names: Vec<String> = load(&store, id).unwrap().stages.into_iter().map(|s| s.instance).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
