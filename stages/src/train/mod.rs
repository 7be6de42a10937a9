//! Fine-tuning: batching, the `train` stage, its history and curves, and throughput benchmarks.

pub mod batches;
pub mod history;
pub mod subset;

pub fn register(_r: &mut crate::Registry) {}
