//! Interpretability: attention heatmaps, attention rollout and integrated gradients
//! for selected test examples (the `visualize` stage).

pub mod integrated_gradients;
pub mod rollout;

pub fn register(_r: &mut crate::Registry) {}
