//! A right-padded batch of token ids and its attention mask.

use candle_core::{Device, Tensor};

use super::error::ModelError;

pub struct Batch {
    /// [batch, seq] u32, padded with id 0.
    pub input_ids: Tensor,
    /// [batch, seq] f32: 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor,
}

impl Batch {
    /// Right-pads every row with 0 to the longest row; rows must not be empty.
    pub fn pad(rows: &[&[u32]], device: &Device) -> Result<Batch, ModelError> {
        // An empty row would have no key to attend to and nothing to mean-pool.
        if let Some(i) = rows.iter().position(|r| r.is_empty()) {
            return Err(ModelError::Data(format!("row {i} of the batch has no tokens")));
        }
        let len = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        if len == 0 {
            return Err(ModelError::Data("cannot build an empty batch".into()));
        }
        let mut ids = Vec::with_capacity(rows.len() * len);
        let mut mask = Vec::with_capacity(rows.len() * len);
        for row in rows {
            ids.extend_from_slice(row);
            ids.resize(ids.len() + len - row.len(), 0);
            mask.extend((0..len).map(|i| if i < row.len() { 1f32 } else { 0f32 }));
        }
        Ok(Batch {
            input_ids: Tensor::from_vec(ids, (rows.len(), len), device)?,
            attention_mask: Tensor::from_vec(mask, (rows.len(), len), device)?,
        })
    }
}
