//! Evaluation: metrics, calibration, temperature scaling, slices, error analysis,
//! and the `evaluate`, `calibrate` and `slice` stages.

pub mod calibration;
pub mod markers;
pub mod metrics;
pub mod scores;
pub mod temperature;

pub fn register(_r: &mut crate::Registry) {}
