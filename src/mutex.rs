//! Locking a mutex whether or not a thread panicked while holding it.

use std::sync::{Mutex, MutexGuard};

/// The guard of `m`, poisoned or not: each mutex the engine shares (the run's board, the
/// journal, the progress lines, the submitted jobs, the cleanups) is left whole by every
/// update, so a panic elsewhere, which the runner reports as that stage's failure, must not
/// stop the rest of the run from reading it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
