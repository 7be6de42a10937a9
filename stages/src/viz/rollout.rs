//! Attention rollout (Abnar & Zuidema, 2020, "Quantifying Attention Flow in Transformers").
//!
//! Raw attention of one layer says where a layer looks, not where the information in a
//! token came from: the residual connection carries each token's own state forward, and
//! layers compose. Rollout accounts for both: per layer, average the heads, add the
//! identity for the residual, row-normalise (so each row is again a distribution), then
//! multiply the layers together, first layer innermost: `R = Â_L · … · Â_1`.
//! Row `i` of `R` is how much each input token contributes to position `i` at the top.

use candle_core::{DType, Tensor, D};

use crate::model::Pooling;
use crate::StageError;

/// Mean over the head axis of one layer's attention probabilities `[h, t, t]` (or
/// `[1, h, t, t]`), giving `[t, t]`.
pub fn head_average(attention: &Tensor) -> Result<Tensor, StageError> {
    let attention = match attention.rank() {
        4 => attention.squeeze(0)?,
        3 => attention.clone(),
        r => return Err(StageError::Failed(format!("attention rollout: expected [1,h,t,t] or [h,t,t], got rank {r}"))),
    };
    Ok(attention.to_dtype(DType::F32)?.mean(0)?)
}

/// The rollout matrix `[t, t]` from per-layer attentions, first layer first, each
/// `[h, t, t]` or `[1, h, t, t]`.
pub fn rollout(layers: &[Tensor]) -> Result<Tensor, StageError> {
    let first = layers.first().ok_or_else(|| StageError::Failed("attention rollout: no layers given".into()))?;
    let t = head_average(first)?.dim(0)?;
    let identity = Tensor::eye(t, DType::F32, first.device())?;
    let mut acc = identity.clone();
    for layer in layers {
        let residual = (head_average(layer)? + &identity)?;
        let normalised = residual.broadcast_div(&residual.sum_keepdim(D::Minus1)?)?;
        // The newer layer multiplies from the left: it mixes the already-mixed positions.
        acc = normalised.matmul(&acc)?;
    }
    Ok(acc)
}

/// Rollout over the input tokens of what the classifier reads: row 0 (`[CLS]`) for
/// `cls` pooling, the mean of all rows for `mean` pooling (the head averages every position).
pub fn pooled_rollout(layers: &[Tensor], pooling: Pooling) -> Result<Vec<f32>, StageError> {
    let r = rollout(layers)?;
    let row = match pooling {
        Pooling::Cls => r.get(0)?,
        Pooling::Mean => r.mean(0)?,
    };
    Ok(row.to_vec1::<f32>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn matrix(rows: &[[f32; 2]; 2]) -> Tensor {
        Tensor::new(rows, &Device::Cpu).unwrap()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} != {b:?}");
        }
    }

    #[test]
    fn averages_heads_adds_residual_and_multiplies_layers() {
        // Layer 1: head 0 looks at token 1 from everywhere, head 1 at token 0:
        // mean = all 0.5; + I and row-normalised = [[0.75, 0.25], [0.25, 0.75]].
        let l1 = Tensor::stack(&[matrix(&[[0.0, 1.0], [0.0, 1.0]]), matrix(&[[1.0, 0.0], [1.0, 0.0]])], 0).unwrap();
        // Layer 2: both heads copy the other token: mean = [[0,1],[1,0]]; + I, normalised = all 0.5.
        let swap = matrix(&[[0.0, 1.0], [1.0, 0.0]]);
        let l2 = Tensor::stack(&[swap.clone(), swap], 0).unwrap().unsqueeze(0).unwrap();
        // By hand: [[.5,.5],[.5,.5]] · [[.75,.25],[.25,.75]] = all 0.5.
        let r = rollout(&[l1.clone(), l2]).unwrap().to_vec2::<f32>().unwrap();
        close(&r[0], &[0.5, 0.5]);
        close(&r[1], &[0.5, 0.5]);
        // A single layer is just its residual-normalised average.
        close(&pooled_rollout(&[l1], Pooling::Cls).unwrap(), &[0.75, 0.25]);
    }

    #[test]
    fn order_of_layers_matters_and_rows_stay_distributions() {
        // A (one head): token 0 attends to itself, token 1 attends to token 0.
        // Â = (A + I)/rowsum = [[1, 0], [0.5, 0.5]].
        let a = matrix(&[[1.0, 0.0], [1.0, 0.0]]).unsqueeze(0).unwrap();
        // B (one head): token 0 attends to token 1, token 1 to itself.
        // B̂ = [[0.5, 0.5], [0, 1]].
        let b = matrix(&[[0.0, 1.0], [0.0, 1.0]]).unsqueeze(0).unwrap();
        // A first, then B: B̂ · Â = [[0.75, 0.25], [0.5, 0.5]].
        let ab = rollout(&[a.clone(), b.clone()]).unwrap().to_vec2::<f32>().unwrap();
        close(&ab[0], &[0.75, 0.25]);
        close(&ab[1], &[0.5, 0.5]);
        // Mean pooling reads every position: the mean of the rows.
        close(&pooled_rollout(&[a.clone(), b.clone()], Pooling::Mean).unwrap(), &[0.625, 0.375]);
        // B first, then A: Â · B̂ = [[0.5, 0.5], [0.25, 0.75]].
        let ba = rollout(&[b, a]).unwrap().to_vec2::<f32>().unwrap();
        close(&ba[0], &[0.5, 0.5]);
        close(&ba[1], &[0.25, 0.75]);
    }

    #[test]
    fn rejects_an_empty_model() {
        assert!(rollout(&[]).is_err());
    }
}
