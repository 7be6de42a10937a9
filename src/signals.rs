//! SIGINT (Ctrl-C) and SIGTERM (what CI systems and schedulers send) are received by
//! one thread with `sigwait`. While `pipe run` runs stages, the first one asks the run
//! to stop ([`pipe_stages::interrupt`]): running commands are killed, nothing new
//! starts, and the run record says interrupted; a second one ends the process at
//! once. Every other command ends at once, as with the default action, after the
//! cleanups registered with [`on_exit`] (a push's lock on the remote).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::mutex::lock;

static GRACEFUL: AtomicBool = AtomicBool::new(false);

type Cleanup = Box<dyn FnOnce() + Send>;

static CLEANUPS: Mutex<Vec<(u64, Cleanup)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Blocks the two signals in this thread and every thread it starts (child processes
/// inherit the mask: the shell stage clears it for its commands), and starts the
/// thread that receives them. Call it before any other thread exists.
pub fn install() {
    // SAFETY: plain libc calls on a local, initialised signal set.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || loop {
        let mut signal = 0;
        // SAFETY: waits for one of the blocked signals of `set`.
        if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
            continue;
        }
        if !GRACEFUL.load(Ordering::SeqCst) || pipe_stages::interrupt::requested().is_some() {
            let cleanups = std::mem::take(&mut *lock(&CLEANUPS));
            for (_, cleanup) in cleanups {
                cleanup();
            }
            std::process::exit(128 + signal);
        }
        pipe_stages::interrupt::request(signal);
    });
}

/// From now on a first signal stops the run gracefully instead of ending the process.
pub fn graceful() {
    GRACEFUL.store(true, Ordering::SeqCst);
}

/// Runs `cleanup` if a signal ends the process before the returned guard is dropped.
pub fn on_exit(cleanup: impl FnOnce() + Send + 'static) -> OnExit {
    let id = NEXT.fetch_add(1, Ordering::SeqCst);
    lock(&CLEANUPS).push((id, Box::new(cleanup)));
    OnExit(id)
}

/// A registered cleanup; dropping it unregisters it.
pub struct OnExit(u64);

impl Drop for OnExit {
    fn drop(&mut self) {
        lock(&CLEANUPS).retain(|(id, _)| *id != self.0);
    }
}
