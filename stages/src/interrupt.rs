//! Whether the run was asked to stop (SIGINT or SIGTERM). The engine's signal thread
//! sets it; a stage that waits on something outside the process (the shell stage's
//! command) or loops for longer than the engine's grace (training's steps, scoring's
//! batches, visualize's examples) checks it and stops early with
//! [`crate::StageError::Interrupted`].

use std::sync::atomic::{AtomicI32, Ordering};

use crate::StageError;

/// The first stop signal received; 0 while none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Records a stop request (the first one wins).
pub fn request(signal: i32) {
    let _ = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// The signal that asked the run to stop, if one did.
pub fn requested() -> Option<i32> {
    Some(SIGNAL.load(Ordering::SeqCst)).filter(|&s| s != 0)
}

/// `Err(Interrupted)` once the run was asked to stop, for a stage's loop to end at
/// its next check instead of after the whole stage.
pub fn check() -> Result<(), StageError> {
    match requested() {
        Some(_) => Err(StageError::Interrupted),
        None => Ok(()),
    }
}
