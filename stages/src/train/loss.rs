//! Mean cross-entropy with label smoothing, as `torch.nn.CrossEntropyLoss(label_smoothing=e)`:
//! the target distribution is (1 - e) on the label plus e / K on every class.

use candle_core::{Tensor, D};

use crate::StageError;

/// `logits` [b, K] f32, `labels` [b] u32; returns the scalar mean loss.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor, label_smoothing: f64) -> Result<Tensor, StageError> {
    cross_entropy_share(logits, labels, label_smoothing, logits.dim(0)?)
}

/// The rows' share of the mean loss of a batch of `batch` rows that holds them:
/// their losses' sum over `batch`. The shares of a batch's runs of rows add up to its mean.
pub fn cross_entropy_share(
    logits: &Tensor,
    labels: &Tensor,
    label_smoothing: f64,
    batch: usize,
) -> Result<Tensor, StageError> {
    if !(0.0..1.0).contains(&label_smoothing) {
        return Err(StageError::param("label_smoothing", format!("must be in [0, 1), got {label_smoothing}")));
    }
    let (b, k) = logits.dims2()?;
    let labels = labels.to_vec1::<u32>()?;
    if labels.len() != b {
        return Err(StageError::Failed(format!("{} labels for {b} rows of logits", labels.len())));
    }
    let off = label_smoothing / k as f64;
    let mut target = vec![off as f32; b * k];
    for (row, &y) in labels.iter().enumerate() {
        let y = y as usize;
        if y >= k {
            return Err(StageError::Data(format!("label {y} outside the {k} classes")));
        }
        target[row * k + y] = (1.0 - label_smoothing + off) as f32;
    }
    let target = Tensor::from_vec(target, (b, k), logits.device())?;
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    Ok(((log_probs * target)?.sum_all()? / -(batch as f64))?)
}
