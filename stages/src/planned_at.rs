//! The SIMD level that stages' machine-dependent choices (`precision: auto`)
//! resolve at when a pipeline is planned. A run plans at the level its kernels
//! run at. A cluster job plans at its submitter's level instead (`pipe job
//! --planned-at`): the stage keys are then the ones the submitter waits for,
//! even on a node whose CPU differs, and the node runs what the key promises.

use std::sync::OnceLock;

use crate::simd::{self, Level};

static PLANNED_AT: OnceLock<Level> = OnceLock::new();

/// The level `auto` choices resolve at in this process.
pub fn level() -> Level {
    PLANNED_AT.get().copied().unwrap_or_else(simd::level)
}

/// Plans at `level` from now on: call it before the pipeline is loaded. The first
/// call holds for the process.
pub fn set(level: Level) {
    let _ = PLANNED_AT.set(level);
}
