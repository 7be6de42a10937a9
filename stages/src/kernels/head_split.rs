//! Attention's head split, [b, t, heads x d] -> [b, heads, t, d], and its
//! inverse, as custom ops that copy on rayon's pool: candle's transpose +
//! contiguous copies on one thread (its own pool is off, src/runtime.rs),
//! leaving the other cores idle. Each op is the other's backward.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::cpu_data::cpu_slice;
use super::lanes::map_blocks;
use super::par::fill_rows;

/// [b, t, heads x d] -> [b, heads, t, d].
pub fn split_heads(x: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(HeadSplit { heads, split: true })
}

/// [b, heads, t, d] -> [b, t, heads x d].
pub fn merge_heads(x: &Tensor) -> candle_core::Result<Tensor> {
    let heads = x.dims4()?.1;
    x.contiguous()?.apply_op1(HeadSplit { heads, split: false })
}

struct HeadSplit {
    heads: usize,
    split: bool,
}

impl CustomOp1 for HeadSplit {
    fn name(&self) -> &'static str {
        if self.split {
            "split-heads"
        } else {
            "merge-heads"
        }
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice::<f32>(storage, layout, self.name(), "input")?;
        let h = self.heads;
        // (t, d) and the output shape, whichever way the values go.
        let (t, d, shape) = if self.split {
            let (b, t, width) = layout.shape().dims3()?;
            if h == 0 || width % h != 0 {
                candle_core::bail!("split-heads: width {width} is not a multiple of {h} heads");
            }
            (t, width / h, Shape::from((b, h, t, width / h)))
        } else {
            let (b, heads, t, d) = layout.shape().dims4()?;
            (t, d, Shape::from((b, t, heads * d)))
        };
        let out = fill_rows(
            x.len(),
            d,
            #[inline(always)]
            |first, rows| {
                for (r, dst) in rows.chunks_exact_mut(d).enumerate() {
                    let row = first + r;
                    let from = if self.split { merged_row(row, t, h) } else { split_row(row, t, h) };
                    map_blocks(
                        dst,
                        [&x[from * d..][..d]],
                        #[inline(always)]
                        |[v]| v,
                    );
                }
            },
        );
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(dy.contiguous()?.apply_op1(HeadSplit { heads: self.heads, split: !self.split })?))
    }
}

/// The merged layout's row ([b, t, heads] rows of d values) holding split row
/// `row` ([b, heads, t] rows), for `t` positions and `h` heads.
fn merged_row(row: usize, t: usize, h: usize) -> usize {
    let (b, rest) = (row / (h * t), row % (h * t));
    (b * t + rest % t) * h + rest / t
}

/// The split layout's row holding merged row `row`: `merged_row`'s inverse.
fn split_row(row: usize, t: usize, h: usize) -> usize {
    let (bt, head) = (row / h, row % h);
    ((bt / t) * h + head) * t + bt % t
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    #[test]
    fn split_and_merge_match_candles_transpose_and_undo_each_other() {
        // d = 20: a whole block of 16 and a remainder.
        let (b, t, h, d) = (3, 5, 4, 20);
        let values: Vec<f32> = (0..b * t * h * d).map(|i| i as f32).collect();
        let x = Tensor::from_vec(values, (b, t, h * d), &Device::Cpu).unwrap();
        let split = split_heads(&x, h).unwrap();
        let expected = x.reshape((b, t, h, d)).unwrap().transpose(1, 2).unwrap().contiguous().unwrap();
        assert_eq!(split.dims4().unwrap(), (b, h, t, d));
        assert_eq!(
            split.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            expected.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
        let merged = merge_heads(&split).unwrap();
        assert_eq!(
            merged.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            x.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    #[test]
    fn gradients_flow_back_through_the_inverse() {
        let (b, t, h, d) = (2, 3, 2, 4);
        let x = candle_core::Var::from_vec(
            (0..b * t * h * d).map(|i| i as f32).collect::<Vec<_>>(),
            (b, t, h * d),
            &Device::Cpu,
        )
        .unwrap();
        let weights = Tensor::from_vec(
            (0..b * h * t * d).map(|i| (i * i) as f32).collect::<Vec<_>>(),
            (b, h, t, d),
            &Device::Cpu,
        )
        .unwrap();
        let loss = (split_heads(x.as_tensor(), h).unwrap() * &weights).unwrap().sum_all().unwrap();
        let grad = loss.backward().unwrap().get(x.as_tensor()).unwrap().clone();
        let expected = weights.transpose(1, 2).unwrap().reshape((b, t, h * d)).unwrap();
        assert_eq!(
            grad.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            expected.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
}
