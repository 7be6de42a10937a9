//! Fine-tuning: batching, the `train` stage, its history and curves, and throughput benchmarks.

pub mod batches;
pub mod bench;
pub mod curves;
pub mod history;
pub mod params;
pub mod rows;
pub mod stage;
pub mod subset;
pub mod trainer;
pub mod warnings;

pub mod clip;
pub mod gradients;
pub mod loss;
pub mod optim;
pub mod schedule;

pub fn register(r: &mut crate::Registry) {
    r.add(Box::new(stage::Train));
}
