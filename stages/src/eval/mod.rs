//! Evaluation: metrics, calibration, temperature scaling, slices, error analysis,
//! and the `evaluate`, `calibrate` and `slice` stages.

pub mod calibrate;
pub mod calibration;
pub mod errors;
pub mod evaluate;
pub mod logits;
pub mod markers;
pub mod metrics;
pub mod predictions;
pub mod scores;
pub mod slice;
pub mod slices;
pub mod temperature;

pub fn register(r: &mut crate::Registry) {
    r.add(Box::new(evaluate::Evaluate));
    r.add(Box::new(calibrate::Calibrate));
    r.add(Box::new(slice::Slice));
}
