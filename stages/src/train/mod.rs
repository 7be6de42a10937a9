//! (module being built)

pub mod clip;
pub mod loss;
pub mod optim;
pub mod schedule;

pub fn register(_r: &mut crate::Registry) {}
