//! Fine-tuning: batching, the `train` stage, its history and curves, and throughput benchmarks.

pub mod batches;
pub mod history;
pub mod subset;

pub mod clip;
pub mod loss;
pub mod optim;
pub mod schedule;

pub fn register(_r: &mut crate::Registry) {}
