//! Embedding-table row lookup as a custom op. Its backward writes the table's
//! gradient in one buffer (zeroed on all threads, then the rows of the batch
//! added in order, as candle's index_add adds them); candle's index_select
//! backward zero-fills a table-sized tensor on one thread and then copies it
//! before adding, for a table of tens of megabytes at every step.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use super::cpu_data::{cpu_slice, row_len, storage_slice};
use super::par::fill_rows;

/// Rows `ids` [n] (u32) of `table` [rows, width], as [n, width]. The caller
/// checks the ids against the table (`Embeddings::words`, with the data error).
pub fn lookup(table: &Tensor, ids: &Tensor) -> candle_core::Result<Tensor> {
    table.apply_op2(&ids.contiguous()?, Lookup)
}

struct Lookup;

impl CustomOp2 for Lookup {
    fn name(&self) -> &'static str {
        "embedding-lookup"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let table = cpu_slice::<f32>(s1, l1, "lookup", "table")?;
        let width = row_len(l1, "lookup")?;
        let ids = cpu_slice::<u32>(s2, l2, "lookup", "ids")?;
        let out = fill_rows(ids.len() * width, width, |first, dst| {
            for (dst, &id) in dst.chunks_exact_mut(width).zip(&ids[first..]) {
                dst.copy_from_slice(&table[id as usize * width..][..width]);
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((ids.len(), width))))
    }

    fn bwd(
        &self,
        table: &Tensor,
        ids: &Tensor,
        _out: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, width) = table.dims2()?;
        let dy = dy.contiguous()?;
        let (dy_s, dy_l) = dy.storage_and_layout();
        let dy = storage_slice::<f32>(&dy_s, dy_l, "lookup backward", "gradient")?;
        let (ids_s, ids_l) = ids.storage_and_layout();
        let ids = storage_slice::<u32>(&ids_s, ids_l, "lookup backward", "ids")?;
        let mut grad = fill_rows(rows * width, width, |_, dst| dst.fill(0.0));
        for (src, &id) in dy.chunks_exact(width).zip(ids) {
            for (d, s) in grad[id as usize * width..][..width].iter_mut().zip(src) {
                *d += s;
            }
        }
        Ok((Some(Tensor::from_vec(grad, (rows, width), table.device())?), None))
    }
}
