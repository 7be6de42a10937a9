//! Locks on the remote, `locks/<op>-<pid>-<nanos>.json`, so that `pipe gc --remote`
//! never runs beside a push: a push that found a file already there names it in an
//! entry later, and gc, which saw no entry naming it, would remove it in between.
//!
//! Each process writes its lock before it lists or uploads anything and rewrites it
//! every `REFRESH` while it works, so the lock's modification time (the remote's clock)
//! says it is alive. A lock not rewritten for `STALE`, or left by a process of this host
//! that is gone, is dead, and whoever finds it removes it; one whose file does not parse
//! is judged by its age alone. gc writes its lock, then
//! lists, and refuses while a live push lock is there; a push writes its lock, then
//! lists, and waits while a live gc lock is there. Of two that start together, the one
//! that lists second sees the other's lock, so gc never removes files under a push it
//! did not see.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};

use super::{Remote, RemoteError};
use crate::{host, record, signals, Error};

/// Where the locks live on the remote.
const LOCKS: &str = "locks";

/// How often a holder rewrites its lock.
const REFRESH: Duration = Duration::from_secs(60);

/// A lock not rewritten for this long belongs to a process that died or lost the remote.
pub const STALE: Duration = Duration::from_secs(600);

/// How often a waiting push looks again.
const POLL: Duration = Duration::from_secs(2);

/// How long the removal of a lock may take.
const RELEASE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Push,
    Gc,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Push => "push",
            Op::Gc => "gc",
        }
    }
}

/// A lock's content: who holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub op: Op,
    pub host: String,
    /// `host::boot_id`, with the host name what tells that the pid is of this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    pub pid: u32,
    /// When the holder started (its own clock, for people).
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pipe {} on host {} (pid {}, since {})", self.op.name(), self.host, self.pid, self.since)
    }
}

/// This process's lock: rewritten until dropped, then removed, also when a signal ends
/// the process. Dropped outside the remote's runtime (it waits for the removal).
pub struct Held {
    release: Release,
    _on_signal: signals::OnExit,
    /// The remote's time when the lock was written.
    pub written: SystemTime,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release.run();
    }
}

/// What stops rewriting a lock and removes it, from any thread outside the runtime.
#[derive(Clone)]
struct Release {
    objects: Arc<dyn ObjectStore>,
    path: StorePath,
    runtime: tokio::runtime::Handle,
    refresher: tokio::task::AbortHandle,
}

impl Release {
    fn run(&self) {
        self.refresher.abort();
        // Bounded: a process ending on a signal must not hang on a remote that is gone.
        let _ = self.runtime.block_on(async { tokio::time::timeout(RELEASE, self.objects.delete(&self.path)).await });
    }
}

/// Who holds a lock, as far as its file tells.
pub enum Claim {
    Holder(Holder),
    /// A lock whose file does not parse (empty, cut short, written by hand): only its
    /// name (the op) and its age are known, so it is judged by its age alone.
    Unreadable {
        op: Op,
        why: String,
    },
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Claim::Holder(holder) => holder.fmt(f),
            Claim::Unreadable { op, why } => write!(f, "a pipe {} whose lock does not parse ({why})", op.name()),
        }
    }
}

/// Another process's live lock.
pub struct Found {
    pub claim: Claim,
    pub path: StorePath,
    /// How long ago, on the remote's clock, it was last rewritten.
    pub age: Duration,
}

impl Found {
    /// The way out of waiting for a lock that may be no one's: nothing for a readable one.
    pub fn advice(&self) -> String {
        match self.claim {
            Claim::Holder(_) => String::new(),
            Claim::Unreadable { .. } => format!(
                "; if no pipe is at work on this remote, delete it, else it counts as dead once not rewritten for {} min",
                STALE.as_secs() / 60
            ),
        }
    }
}

impl Remote {
    /// Writes this process's lock for `op` and keeps it fresh until the `Held` is dropped.
    pub(super) fn hold(&self, op: Op) -> Result<Held, Error> {
        let since = SystemTime::now();
        let holder = Holder {
            op,
            host: host::name(),
            boot: host::boot_id(),
            pid: std::process::id(),
            since: record::timestamp(since),
        };
        let nanos = since.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let path = StorePath::from(format!("{LOCKS}/{}-{}-{nanos}.json", op.name(), holder.pid));
        let payload = PutPayload::from(serde_json::to_vec_pretty(&holder).map_err(Error::corrupt(path.as_ref()))?);
        let (objects, again, rewrite) = (self.objects.clone(), path.clone(), payload.clone());
        let refresher = self.runtime.spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                // A missed rewrite is retried at the next; only `STALE` of them make the lock dead.
                let _ = objects.put(&again, rewrite.clone()).await;
            }
        });
        let (runtime, refresher) = (self.runtime.handle().clone(), refresher.abort_handle());
        let release = Release { objects: self.objects.clone(), path: path.clone(), runtime, refresher };
        let on_signal = release.clone();
        // Registered before the lock is written: from then on, an error or a signal removes it.
        let mut held = Held { release, _on_signal: signals::on_exit(move || on_signal.run()), written: UNIX_EPOCH };
        held.written = self.runtime.block_on(async {
            // A full remote refuses even this small file: the error names it.
            let failed = |e| self.failure_while(&format!("cannot write its lock `{path}`"), e);
            self.objects.put(&path, payload).await.map_err(failed)?;
            let meta = self.objects.head(&path).await.map_err(failed)?;
            Ok::<_, Error>(SystemTime::from(meta.last_modified))
        })?;
        if held.written == UNIX_EPOCH {
            return Err(RemoteError::Config(format!(
                "remote {}: it gives no modification times, so pipe cannot tell a live lock or a recent upload from an old one",
                self.location
            ))
            .into());
        }
        Ok(held)
    }

    /// The live locks of `op` other than `own`. Dead ones, of any op, are named on
    /// stderr and, with `remove_dead`, removed (where the remote lets this process).
    pub(super) async fn live(&self, own: &Held, op: Op, remove_dead: bool) -> Result<Vec<Found>, Error> {
        let listing = self.objects.list_with_delimiter(Some(&StorePath::from(LOCKS))).await;
        let listing = listing.map_err(|e| self.unlisted(e))?;
        // The remote's time now: the newest of its stamps, this process's own lock among them.
        let now = listing.objects.iter().map(|m| SystemTime::from(m.last_modified)).fold(own.written, SystemTime::max);
        let (this_host, this_boot) = (host::name(), host::boot_id());
        let mut found = Vec::new();
        for meta in listing.objects.iter().filter(|m| m.location != own.release.path) {
            let Some(lock_op) = op_of(meta) else { continue };
            let Some(claim) = self.claim(meta, lock_op).await? else { continue };
            let age = now.duration_since(SystemTime::from(meta.last_modified)).unwrap_or_default();
            let gone = match &claim {
                Claim::Holder(h) => h.host == this_host && h.boot == this_boot && !host::alive(h.pid),
                Claim::Unreadable { .. } => false,
            };
            if age <= STALE && !gone {
                if lock_op == op {
                    found.push(Found { claim, path: meta.location.clone(), age });
                }
                continue;
            }
            let why = if gone {
                "that process is gone".to_string()
            } else {
                format!("not rewritten for {} s", age.as_secs())
            };
            let what = match remove_dead {
                false => "ignored".to_string(),
                true => match self.objects.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => "removed".to_string(),
                    Err(e) => format!("could not remove ({}) and ignored", self.location.mask(&e.to_string())),
                },
            };
            eprintln!("note: {what} the lock {} of {claim}: {why}", meta.location);
        }
        Ok(found)
    }

    /// Waits while a live lock of `op` other than `own` is on the remote.
    pub(super) async fn wait_for(&self, own: &Held, op: Op) -> Result<(), Error> {
        let mut said = false;
        loop {
            let live = self.live(own, op, true).await?;
            let Some(first) = live.first() else { return Ok(()) };
            if !said {
                let (claim, path, advice) = (&first.claim, &first.path, first.advice());
                eprintln!("waiting for {claim} to finish on {} (lock {path}{advice})", self.location);
                said = true;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Who holds a lock of `op`; None when it went between the listing and the read.
    async fn claim(&self, meta: &ObjectMeta, op: Op) -> Result<Option<Claim>, Error> {
        let bytes = match self.objects.get(&meta.location).await {
            Ok(got) => got.bytes().await.map_err(|e| self.failure(e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.failure(e)),
        };
        Ok(Some(match serde_json::from_slice(&bytes) {
            Ok(holder) => Claim::Holder(holder),
            Err(e) => Claim::Unreadable { op, why: e.to_string() },
        }))
    }
}

/// The op a lock's name says (`push-…json`, `gc-…json`); None for anything else there.
fn op_of(meta: &ObjectMeta) -> Option<Op> {
    let name = meta.location.filename()?.strip_suffix(".json")?;
    [Op::Push, Op::Gc].into_iter().find(|op| name.starts_with(&format!("{}-", op.name())))
}
