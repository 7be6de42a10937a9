//! The command as a process: started with clean signals in a process group of its
//! own (its watcher's), its output followed until it exits, and the group killed when
//! it is done.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::lines::Lines;
use crate::{interrupt, Progress, StageError};

/// How often, at most, a running command is checked for its end or a stop request.
const POLL: Duration = Duration::from_millis(20);
/// How long output is still read after the command exits: a process it started
/// outside its group (`setsid`) may hold the pipes open for as long as it lives.
pub const GRACE: Duration = Duration::from_secs(1);

/// How the command ended.
pub struct Ended {
    pub status: ExitStatus,
    /// Its last stderr lines.
    pub stderr: Vec<String>,
}

/// A command started under its watcher (see [`GroupGuard`]).
pub struct Started {
    child: Child,
    guard: GroupGuard,
}

/// Starts `command` (an `sh -c`) with its output piped, in the process group of a watcher
/// started first: there is no moment in which the command runs unwatched.
pub fn start(command: &mut Command, run: &str) -> Result<Started, StageError> {
    let guard = GroupGuard::start()?;
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(guard.group);
    // SAFETY: `default_signals` makes only async-signal-safe calls.
    unsafe { command.pre_exec(default_signals) };
    let child = command.spawn().map_err(|e| StageError::Failed(format!("cannot start `sh -c {run}`: {e}")))?;
    Ok(Started { child, guard })
}

/// Runs in the forked child before `sh` starts. `pipe` blocks SIGINT and SIGTERM in
/// every thread (one thread receives them with `sigwait`), and std's spawn passes the
/// mask on: without this, `kill $pid` of a background job would go unheard.
fn default_signals() -> std::io::Result<()> {
    // SAFETY: plain libc calls on a local, initialised signal set; all async-signal-safe.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        if libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for signal in [libc::SIGINT, libc::SIGTERM] {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
    Ok(())
}

/// Follows the command's output until it exits and its output ends (or [`GRACE`]
/// after it exits, with a warning); if the run is asked to stop first, kills its
/// process group and returns at once.
pub fn supervise(started: Started, progress: &dyn Progress, instance: &str) -> Result<Ended, StageError> {
    let Started { mut child, guard } = started;
    let mut out = Stream::new(child.stdout.take().map(OwnedFd::from), progress);
    let mut err = Stream::new(child.stderr.take().map(OwnedFd::from), progress);
    let mut exited: Option<(ExitStatus, Instant)> = None;
    // Short commands are common: start polling fast, back off to POLL.
    let mut pause = Duration::from_millis(1);
    loop {
        if interrupt::requested().is_some() {
            guard.kill_group();
            let _ = child.wait();
            return Err(StageError::Interrupted);
        }
        if exited.is_none() {
            let waited = child.try_wait().map_err(|e| StageError::Failed(format!("waiting for the command: {e}")))?;
            if let Some(status) = waited {
                // What it left running in the background would hold its output open, and the
                // guard would kill it anyway: end it now, not when it closes its output.
                guard.kill_group();
                exited = Some((status, Instant::now()));
            }
        }
        let open = [&out, &err].iter().filter(|s| s.pipe.is_some()).count();
        match exited {
            Some((status, _)) if open == 0 => return Ok(Ended { status, stderr: err.lines.finish() }),
            Some((status, at)) if at.elapsed() >= GRACE => {
                eprintln!(
                    "warning: stage `{instance}`: a process its command started still holds the command's output \
                     open (one started with `setsid`?); it keeps running, and pipe stopped reading its output {}s \
                     after the command exited",
                    GRACE.as_secs()
                );
                return Ok(Ended { status, stderr: err.lines.finish() });
            }
            _ => {}
        }
        wait_readable(&mut [&mut out, &mut err], pause);
        pause = (pause * 2).min(POLL);
    }
}

/// One of the command's output pipes (`None` once it ended) and its lines.
struct Stream<'p> {
    pipe: Option<File>,
    lines: Lines<'p>,
}

impl<'p> Stream<'p> {
    fn new(pipe: Option<OwnedFd>, progress: &'p dyn Progress) -> Self {
        Stream { pipe: pipe.map(File::from), lines: Lines::new(progress) }
    }

    /// Reads what is there (the pipe is readable, so this does not block).
    fn read(&mut self) {
        let Some(pipe) = &mut self.pipe else { return };
        let mut buf = [0; 64 * 1024];
        match pipe.read(&mut buf) {
            Ok(0) => self.pipe = None,
            Ok(n) => self.lines.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A pipe that cannot be read cannot be followed: as if it ended.
            Err(_) => self.pipe = None,
        }
    }
}

/// Waits up to `timeout` for output on the open streams, and reads what came.
fn wait_readable(streams: &mut [&mut Stream], timeout: Duration) {
    let mut fds: Vec<libc::pollfd> = streams
        .iter()
        .map(|s| libc::pollfd { fd: s.pipe.as_ref().map_or(-1, AsRawFd::as_raw_fd), events: libc::POLLIN, revents: 0 })
        .collect();
    // SAFETY: `fds` is a valid array of pollfd of the given length; a negative fd is ignored.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout.as_millis() as i32) };
    if ready <= 0 {
        return;
    }
    for (stream, fd) in streams.iter_mut().zip(&fds) {
        if fd.revents != 0 {
            stream.read();
        }
    }
}

/// Kills a command's process group once the command is done or this process is gone.
/// `PR_SET_PDEATHSIG` would reach only `sh`, not the processes it forked; instead a
/// watcher `sh` leads a process group of its own (so Ctrl-C does not stop it first),
/// which the command then joins, and blocks reading a pipe whose write end only this
/// process holds (std opens pipes close-on-exec). When the guard is dropped, or `pipe`
/// exits however it exits, the read returns and the watcher kills the whole group,
/// itself included. Started before the command, it is there even when `pipe` is killed
/// the instant after the command starts.
struct GroupGuard {
    watcher: Child,
    group: i32,
}

impl GroupGuard {
    fn start() -> Result<GroupGuard, StageError> {
        let watcher = Command::new("sh")
            .arg("-c")
            .arg(r#"read _; kill -s KILL -- "-$$" 2>/dev/null"#)
            .arg("pipe-group-guard")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| StageError::Failed(format!("cannot start the process-group watcher `sh`: {e}")))?;
        let group = watcher.id() as i32;
        Ok(GroupGuard { watcher, group })
    }

    fn kill_group(&self) {
        // SAFETY: signals the process group this stage created for its command.
        unsafe { libc::kill(-self.group, libc::SIGKILL) };
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        drop(self.watcher.stdin.take());
        // Reaps the watcher; it exits right after the kill.
        let _ = self.watcher.wait();
    }
}
