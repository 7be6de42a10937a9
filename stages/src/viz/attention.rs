//! Attention figures of one sentence: the last layer averaged over heads, and every
//! layer averaged over its heads as a grid (a static, per-layer version of bertviz's
//! "model view"; attributions.json keeps every head). Rows are the attending tokens
//! (queries), columns the tokens attended to (keys).

use std::path::Path;

use candle_core::Tensor;

use super::rollout::head_average;
use crate::plot::{heatmap, heatmap_grid, Heatmap, Scale};
use crate::StageError;

/// Attention probabilities `[t, t]` as rows of numbers.
pub type Matrix = Vec<Vec<f32>>;

/// Panels per row of the layers grid: three stay readable at the report's width
/// (a layer x head grid of 6 x 12 panels was 5,000 px wide, its fonts 6 px in the report).
const LAYERS_PER_ROW: usize = 3;

/// Per layer, per head, the `[t, t]` matrices of `attentions` (each `[heads, t, t]`).
pub fn per_head(attentions: &[Tensor]) -> Result<Vec<Vec<Matrix>>, StageError> {
    attentions.iter().map(|layer| Ok(layer.to_vec3::<f32>()?)).collect()
}

/// Per layer, the mean over its heads.
pub fn layer_means(attentions: &[Tensor]) -> Result<Vec<Matrix>, StageError> {
    attentions.iter().map(|layer| Ok(head_average(layer)?.to_vec2::<f32>()?)).collect()
}

fn panel(title: String, matrix: &Matrix, tokens: &[String], x_label: &str, y_label: &str) -> Heatmap {
    Heatmap {
        title,
        values: matrix.iter().map(|row| row.iter().map(|&v| f64::from(v)).collect()).collect(),
        row_labels: tokens.to_vec(),
        col_labels: tokens.to_vec(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        value_label: "attention probability".into(),
        scale: Scale::Sequential,
        // Probabilities: a fixed 0..1 scale would leave most cells dark; the data range shows structure.
        range: None,
        cell_text: None,
    }
}

/// The head-averaged last layer as one heatmap with a colour bar. The title is the
/// example's caption alone: a heatmap of a short sentence is narrow.
pub fn last_layer_figure(path: &Path, tokens: &[String], mean: &Matrix, caption: &str) -> Result<(), StageError> {
    let x_label = "attended to (key) · last layer, mean over heads";
    heatmap(path, &panel(caption.to_string(), mean, tokens, x_label, "attending (query)"))
}

/// Every layer's head mean, [`LAYERS_PER_ROW`] to a row, on one shared colour scale.
pub fn layers_figure(path: &Path, tokens: &[String], means: &[Matrix], caption: &str) -> Result<(), StageError> {
    let panels: Vec<Heatmap> = means
        .iter()
        .enumerate()
        .map(|(l, m)| panel(format!("layer {}", l + 1), m, tokens, "key token", "query token"))
        .collect();
    heatmap_grid(path, &format!("{caption} · attention per layer, mean over heads"), &panels, LAYERS_PER_ROW)
}
