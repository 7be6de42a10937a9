//! A training batch's gradients. The batch is cut into `shards` runs of
//! consecutive rows whose forward and backward passes run side by side, one per
//! core on two cores; their gradients are added as the norm and AdamW read them. One pass over the whole
//! batch keeps both cores on every op and leaves one waiting for the other at
//! the end of each of a few hundred parallel loops a step (bench/README.md).
//! The count depends on the model, not on the machine's thread count, so the
//! result is the same on any machine at the same SIMD level.
//!
//! The word-embedding table's gradient is kept as the batch's rows only: a
//! lookup's gradient is zero elsewhere, and a dense one is a 47 MB zero fill per
//! shard (MiniLM's 30522 x 384 table), then a sum, a norm and AdamW reading it.

use candle_core::backprop::{no_grad, with_grad, GradStore};
use candle_core::{Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::loss::cross_entropy_share;
use crate::kernels::cpu_data::storage_slice;
use crate::model::{Batch, Classifier, Mode};
use crate::StageError;

/// Runs of rows per training batch for an encoder of hidden size `hidden`: two up to
/// 512, one above. Each shard reads every weight and writes a whole gradient of
/// each, a cost that grows with the weights, while what shards save, a wait at the
/// end of each op, does not: two train MiniLM (384) faster, and the DistilBERT-base
/// size (768) slower (bench/README.md has the measurements).
pub fn shards(hidden: usize) -> usize {
    if hidden <= 512 {
        2
    } else {
        1
    }
}

/// A table's gradient where only some rows can be nonzero: those rows alone.
pub struct TableRows {
    /// Row indices, ascending, each once.
    pub rows: Vec<u32>,
    /// [rows.len(), width], row `i` the gradient of table row `rows[i]`.
    pub values: Vec<f32>,
    pub width: usize,
}

impl TableRows {
    /// The gradient of lookups of `ids` given the gradients of their results (each
    /// `[ids.len(), width]`): each result row added into its id's row, in order, as
    /// a lookup's backward adds them into a zeroed table.
    fn of_lookups(lookups: &[(Vec<u32>, Vec<f32>)], width: usize) -> TableRows {
        let mut rows: Vec<u32> = lookups.iter().flat_map(|(ids, _)| ids.iter().copied()).collect();
        rows.sort_unstable();
        rows.dedup();
        let mut values = vec![0f32; rows.len() * width];
        for (ids, dy) in lookups {
            for (&id, src) in ids.iter().zip(dy.chunks_exact(width)) {
                let at = rows.binary_search(&id).expect("every id is among the rows") * width;
                values[at..at + width].iter_mut().zip(src).for_each(|(d, s)| *d += s);
            }
        }
        TableRows { rows, values, width }
    }
}

/// One parameter's gradient.
pub enum Grad<'a> {
    /// The sum of these tensors' values, added in this order (one per shard): the
    /// norm and AdamW add them as they read them, which costs less than a pass
    /// that stores the sum (a read of two and a write of one, per parameter).
    Sum(Vec<&'a Tensor>),
    Rows(&'a TableRows),
}

/// Values per block of `Grad::Sum`'s values, a multiple of 8 (see `clip.rs`).
pub const BLOCK: usize = 64;

/// Calls `f(offset, block)` on `range` of the element-wise sum of `parts` (each part's
/// value added in order, in f32), in consecutive blocks of at most `BLOCK` values,
/// `offset` counted from the range's start.
pub fn sum_blocks(parts: &[&[f32]], range: std::ops::Range<usize>, mut f: impl FnMut(usize, &[f32])) {
    let mut block = [0f32; BLOCK];
    for start in range.clone().step_by(BLOCK) {
        let end = (start + BLOCK).min(range.end);
        let values = match parts {
            [one] => &one[start..end],
            [first, rest @ ..] => {
                let block = &mut block[..end - start];
                block.copy_from_slice(&first[start..end]);
                for part in rest {
                    block.iter_mut().zip(&part[start..end]).for_each(|(b, v)| *b += v);
                }
                block
            }
            [] => return,
        };
        f(start - range.start, values);
    }
}

/// Runs `f` on the values of `parts`, each a CPU f32 tensor (made contiguous first).
pub fn with_values<R>(parts: &[&Tensor], f: impl FnOnce(&[&[f32]]) -> R) -> Result<R, StageError> {
    let parts = parts.iter().map(|t| t.contiguous()).collect::<Result<Vec<_>, _>>()?;
    let guards: Vec<_> = parts.iter().map(Tensor::storage_and_layout).collect();
    let values = guards
        .iter()
        .map(|(storage, layout)| storage_slice::<f32>(storage, layout, "gradient", "gradient"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(f(&values))
}

pub struct Gradients {
    /// Each shard's backprop gradients, in shard order.
    shards: Vec<GradStore>,
    /// The word-embedding table, when it is trained, and its batch rows' gradient.
    table: Option<(Var, TableRows)>,
}

impl Gradients {
    /// Every gradient as backprop left it.
    pub fn dense(store: GradStore) -> Gradients {
        Gradients { shards: vec![store], table: None }
    }

    /// `store`'s gradients, and `rows` as `table`'s.
    pub fn with_table_rows(store: GradStore, table: Var, rows: TableRows) -> Gradients {
        Gradients { shards: vec![store], table: Some((table, rows)) }
    }

    pub fn get(&self, var: &Var) -> Option<Grad<'_>> {
        match &self.table {
            Some((table, rows)) if table.as_tensor().id() == var.as_tensor().id() => Some(Grad::Rows(rows)),
            _ => {
                let parts: Vec<&Tensor> = self.shards.iter().filter_map(|s| s.get(var.as_tensor())).collect();
                (!parts.is_empty()).then_some(Grad::Sum(parts))
            }
        }
    }

    /// The batch's mean loss (with `smoothing`) and the gradients of `trainable`,
    /// from `shards` runs of consecutive rows (fewer when the batch has fewer
    /// rows), each with dropout masks from its own generator seeded from `rng`.
    pub fn of_batch(
        model: &Classifier,
        trainable: &[Var],
        rows: &[&[u32]],
        labels: &[u32],
        smoothing: f64,
        rng: &mut ChaCha8Rng,
        shards: usize,
    ) -> Result<(f64, Gradients), StageError> {
        if rows.is_empty() || rows.len() != labels.len() {
            return Err(StageError::Failed(format!("a batch of {} rows with {} labels", rows.len(), labels.len())));
        }
        let table =
            model.word_embeddings().filter(|t| trainable.iter().any(|v| v.as_tensor().id() == t.as_tensor().id()));
        let per = rows.len().div_ceil(shards.max(1));
        let parts: Vec<_> = rows
            .chunks(per)
            .zip(labels.chunks(per))
            .map(|(r, l)| (r, l, ChaCha8Rng::from_seed(rng.random())))
            .collect();
        // A shard may run on a pool thread that waits inside another job's `no_grad`
        // (an eval pass of this process, stealing work): recording is set, not inherited.
        let mut shards = parts
            .into_par_iter()
            .map(|(r, l, mut rng)| {
                with_grad(true, || Shard::run(model, table.is_some(), r, l, rows.len(), smoothing, &mut rng))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let loss = shards.iter().map(|s| s.loss).sum::<f32>();
        let lookups: Vec<_> = shards.iter_mut().filter_map(|s| s.words.take()).collect();
        let table = match table {
            Some(table) => {
                let width = table.dims2()?.1;
                Some((table, TableRows::of_lookups(&lookups, width)))
            }
            None => None,
        };
        Ok((f64::from(loss), Gradients { shards: shards.into_iter().map(|s| s.store).collect(), table }))
    }
}

/// One run of rows' forward and backward pass.
struct Shard {
    loss: f32,
    store: GradStore,
    /// The run's token ids (padding included) and the gradient of their word embeddings.
    words: Option<(Vec<u32>, Vec<f32>)>,
}

impl Shard {
    fn run(
        model: &Classifier,
        train_words: bool,
        rows: &[&[u32]],
        labels: &[u32],
        batch: usize,
        smoothing: f64,
        rng: &mut ChaCha8Rng,
    ) -> Result<Shard, StageError> {
        let device = model.device();
        let input = Batch::pad(rows, device)?;
        let targets = Tensor::new(labels, device)?;
        // Looked up outside the graph: the table's gradient is gathered from the
        // words' gradient below, not by backprop into a table-sized tensor.
        let looked_up = no_grad(|| model.embed_words(&input.input_ids))?;
        let words = if train_words { Some(Var::from_tensor(&looked_up)?) } else { None };
        let words_tensor = words.as_ref().map_or(&looked_up, Var::as_tensor);
        let logits = model.logits_from_words(words_tensor, &input, &mut Mode::Train { rng })?;
        let loss = cross_entropy_share(&logits, &targets, smoothing, batch)?;
        let mut store = loss.backward()?;
        let words = match words {
            Some(var) => {
                let dy = store.remove(var.as_tensor()).map_or_else(
                    || Ok(vec![0f32; looked_up.elem_count()]),
                    |g| g.flatten_all().and_then(|g| g.to_vec1::<f32>()),
                )?;
                Some((input.input_ids.flatten_all()?.to_vec1::<u32>()?, dy))
            }
            None => None,
        };
        Ok(Shard { loss: loss.to_scalar::<f32>()?, store, words })
    }
}
