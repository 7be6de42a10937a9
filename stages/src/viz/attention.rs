//! Attention figures of one sentence: the last layer averaged over heads, and every
//! layer x head as a grid (a static version of bertviz's "model view"). Rows are the
//! attending tokens (queries), columns the tokens attended to (keys).

use std::path::Path;

use candle_core::Tensor;

use super::rollout::head_average;
use crate::plot::{heatmap, heatmap_grid, Heatmap, Scale};
use crate::StageError;

/// Attention probabilities `[t, t]` as rows of numbers.
pub type Matrix = Vec<Vec<f32>>;

/// Per layer, per head, the `[t, t]` matrices of `attentions` (each `[heads, t, t]`).
pub fn per_head(attentions: &[Tensor]) -> Result<Vec<Vec<Matrix>>, StageError> {
    attentions.iter().map(|layer| Ok(layer.to_vec3::<f32>()?)).collect()
}

/// The last layer averaged over its heads.
pub fn last_layer_mean(attentions: &[Tensor]) -> Result<Matrix, StageError> {
    let last = attentions.last().ok_or_else(|| StageError::Failed("the model returned no attention layers".into()))?;
    Ok(head_average(last)?.to_vec2::<f32>()?)
}

fn panel(title: String, matrix: &Matrix, tokens: &[String], x_label: &str, y_label: &str) -> Heatmap {
    Heatmap {
        title,
        values: matrix.iter().map(|row| row.iter().map(|&v| f64::from(v)).collect()).collect(),
        row_labels: tokens.to_vec(),
        col_labels: tokens.to_vec(),
        x_label: x_label.into(),
        y_label: y_label.into(),
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

/// Every layer (rows of the grid) x head (columns), one shared colour scale.
pub fn layers_figure(path: &Path, tokens: &[String], heads: &[Vec<Matrix>], caption: &str) -> Result<(), StageError> {
    let columns = heads.first().map_or(1, Vec::len);
    let panels: Vec<Heatmap> = heads
        .iter()
        .enumerate()
        .flat_map(|(l, layer)| {
            layer
                .iter()
                .enumerate()
                .map(move |(h, m)| panel(format!("layer {} head {}", l + 1, h + 1), m, tokens, "", ""))
        })
        .collect();
    heatmap_grid(path, &format!("{caption} · attention per layer (rows) and head (columns)"), &panels, columns)
}
