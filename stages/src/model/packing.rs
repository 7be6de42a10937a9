//! Where a batch's token rows live between attention blocks. Padded: [b, t, h],
//! as every caller that looks inside the model (attention maps, hidden states,
//! gradients) sees them. Packed: only the real tokens, [n, h], for logits in
//! train and eval mode; everything done token by token (dense layers,
//! LayerNorm, residuals, activations, dropout) then skips the padding, and only
//! attention, which needs each sentence's tokens side by side, sees the padded
//! layout. First: each sentence's first token only, [b, h], the one row of the
//! last layer a [CLS]-pooled head reads.
//!
//! A real token's values are the same bits in every layout: each of those steps
//! computes a row from that row alone, dropout gives a row the mask values the
//! padded tensor's row would get (`Mode::dropout_rows`), and attention gives
//! padded keys a probability of exactly 0. Padded rows rebuilt from packed ones
//! hold a copy of the batch's first token instead (finite, so 0 x value is
//! still 0, and their gradient, 0, adds nothing to that token's).

use candle_core::{Tensor, D};

use super::dropout::Mode;
use crate::kernels::lookup::lookup;

/// The real tokens of a right-padded batch.
pub struct Packing {
    batch: usize,
    len: usize,
    /// Each real token's position in the flattened [b * t], as the dropout masks take it.
    positions: Vec<u32>,
    /// The same positions, [n] u32.
    real: Tensor,
    /// [b * t] u32: each position's row among the real tokens (0 for padding).
    padded: Tensor,
    /// [b] u32: each sentence's first token's row among the real tokens.
    first: Tensor,
}

impl Packing {
    /// From a [b, t] 1/0 attention mask; None when nothing is padded.
    pub fn of(attention_mask: &Tensor) -> candle_core::Result<Option<Packing>> {
        let (batch, len) = attention_mask.dims2()?;
        let mask = attention_mask.flatten_all()?.to_vec1::<f32>()?;
        let positions: Vec<u32> = (0..mask.len() as u32).filter(|&i| mask[i as usize] != 0.0).collect();
        if positions.len() == mask.len() {
            return Ok(None);
        }
        let mut padded = vec![0u32; mask.len()];
        for (row, &at) in positions.iter().enumerate() {
            padded[at as usize] = row as u32;
        }
        let first: Vec<u32> = (0..batch).map(|i| padded[i * len]).collect();
        let device = attention_mask.device();
        Ok(Some(Packing {
            batch,
            len,
            real: Tensor::new(positions.as_slice(), device)?,
            positions,
            padded: Tensor::from_vec(padded, mask.len(), device)?,
            first: Tensor::from_vec(first, batch, device)?,
        }))
    }
}

/// The layout of the token rows passed between layers.
#[derive(Clone, Copy)]
pub enum Tokens<'a> {
    /// [b, t, h]
    Padded,
    /// [n, h], n real tokens.
    Packed(&'a Packing),
    /// [b, h]: each sentence's first token, of a batch padded to `len` tokens.
    First { len: usize },
}

impl<'a> Tokens<'a> {
    pub fn new(packing: Option<&'a Packing>) -> Tokens<'a> {
        packing.map_or(Tokens::Padded, Tokens::Packed)
    }

    /// Rows in this layout from [b, t, h] (the inverse of `to_padded` on real tokens).
    pub fn pack(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Tokens::Padded => Ok(x.clone()),
            Tokens::Packed(p) => {
                let (b, t, h) = x.dims3()?;
                lookup(&x.reshape((b * t, h))?, &p.real)
            }
            Tokens::First { .. } => x.narrow(1, 0, 1)?.squeeze(1),
        }
    }

    /// Rows in this layout from rows `x` in layout `from`, which holds them all.
    pub fn take(self, from: Tokens, x: &Tensor) -> candle_core::Result<Tensor> {
        match (from, self) {
            (Tokens::Padded, _) => self.pack(x),
            (Tokens::Packed(_), Tokens::Packed(_)) | (Tokens::First { .. }, Tokens::First { .. }) => Ok(x.clone()),
            (Tokens::Packed(p), Tokens::First { .. }) => lookup(x, &p.first),
            (_, _) => self.pack(&from.to_padded(x)?),
        }
    }

    /// [b, t, h] from rows in this layout.
    pub fn to_padded(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Tokens::Padded => Ok(x.clone()),
            Tokens::Packed(p) => lookup(x, &p.padded)?.reshape((p.batch, p.len, x.dim(D::Minus1)?)),
            Tokens::First { .. } => candle_core::bail!("first-token rows have no padded layout"),
        }
    }

    /// `x`, rows in this layout, after dropout with the masks of the padded [b, t, h] tensor.
    pub fn dropout(self, mode: &mut Mode, x: &Tensor, p: f32) -> candle_core::Result<Tensor> {
        match self {
            Tokens::Padded => mode.dropout(x, p),
            Tokens::Packed(pk) => mode.dropout_rows(x, p, &pk.positions, pk.batch * pk.len),
            Tokens::First { len } => {
                let batch = x.dim(0)?;
                let rows: Vec<u32> = (0..batch).map(|i| (i * len) as u32).collect();
                mode.dropout_rows(x, p, &rows, batch * len)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn real_rows_go_out_and_come_back_to_their_places() {
        let mask = Tensor::new(&[[1f32, 1., 0.], [1., 0., 0.]], &Device::Cpu).unwrap();
        let x = Tensor::arange(0f32, 12., &Device::Cpu).unwrap().reshape((2, 3, 2)).unwrap();
        let packing = Packing::of(&mask).unwrap().expect("the batch has padding");
        let tokens = Tokens::Packed(&packing);
        let packed = tokens.pack(&x).unwrap();
        assert_eq!(packed.to_vec2::<f32>().unwrap(), [[0., 1.], [2., 3.], [6., 7.]]);
        let back = tokens.to_padded(&packed).unwrap().to_vec3::<f32>().unwrap();
        // Real tokens in place; padding holds the first token's row.
        assert_eq!(back, [[[0., 1.], [2., 3.], [0., 1.]], [[6., 7.], [0., 1.], [0., 1.]]]);
    }

    #[test]
    fn a_batch_without_padding_is_not_packed() {
        let mask = Tensor::new(&[[1f32, 1.], [1., 1.]], &Device::Cpu).unwrap();
        assert!(Packing::of(&mask).unwrap().is_none());
    }
}
