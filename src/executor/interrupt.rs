//! Ctrl-C and SIGTERM while a run waits for its cluster jobs: noted, not fatal, so
//! the run can cancel its jobs before it exits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static CAUGHT: AtomicBool = AtomicBool::new(false);

extern "C" fn note(_: libc::c_int) {
    CAUGHT.store(true, Ordering::SeqCst);
}

const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// Holds the handlers; dropping it restores the previous ones.
pub struct Caught {
    previous: [libc::sighandler_t; 2],
}

pub fn catch() -> Caught {
    CAUGHT.store(false, Ordering::SeqCst);
    // SAFETY: `note` only stores to an atomic, which is async-signal-safe.
    let previous =
        SIGNALS.map(|s| unsafe { libc::signal(s, note as extern "C" fn(libc::c_int) as libc::sighandler_t) });
    Caught { previous }
}

impl Caught {
    /// Sleeps for `d`, waking early for a signal; true when one came.
    pub fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if CAUGHT.load(Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())));
        }
        CAUGHT.load(Ordering::SeqCst)
    }
}

impl Drop for Caught {
    fn drop(&mut self) {
        for (s, handler) in SIGNALS.iter().zip(self.previous) {
            // SAFETY: puts back the handler that was installed before `catch`.
            unsafe { libc::signal(*s, handler) };
        }
    }
}
