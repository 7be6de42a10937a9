//! Interpretability for selected test examples (the `visualize` stage): attention
//! heatmaps, attention rollout and integrated gradients, as figures and numbers.

pub mod attention;
pub mod integrated_gradients;
pub mod rollout;
pub mod selection;
pub mod subject;
pub mod token_bars;
pub mod visualize;

pub fn register(r: &mut crate::Registry) {
    r.add(Box::new(visualize::Visualize));
}
