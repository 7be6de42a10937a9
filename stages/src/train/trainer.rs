//! One fine-tuning step (forward in train mode, loss, backward, global-norm clip,
//! AdamW with the scheduled learning rate) and the dev evaluation. Shared by the
//! `train` stage and `pipe bench train`, so the benchmark times exactly what
//! training runs.

use candle_core::{Tensor, Var};
use rand_chacha::ChaCha8Rng;

use super::clip::{clip_scale, global_norm};
use super::gradients::{shards, Gradients};
use super::loss::cross_entropy;
use super::optim::AdamW;
use super::schedule::LinearSchedule;
use crate::kernels::par::on_pool;
use crate::model::Classifier;
use crate::StageError;

/// Optimiser settings of a run (the `train` stage's params, minus data and selection).
#[derive(Debug, Clone)]
pub struct Recipe {
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
    pub grad_clip: f64,
    pub label_smoothing: f64,
    /// Leave the embedding tables out of the optimiser.
    pub freeze_embeddings: bool,
}

/// What one step did.
#[derive(Debug, Clone, Copy)]
pub struct StepOutcome {
    pub loss: f64,
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

pub struct Trainer {
    pub model: Classifier,
    trainable: Vec<Var>,
    optim: AdamW,
    schedule: LinearSchedule,
    recipe: Recipe,
    /// Dropout masks: one stream for the whole run.
    dropout_rng: ChaCha8Rng,
    step: usize,
}

impl Trainer {
    pub fn new(model: Classifier, recipe: Recipe, dropout_rng: ChaCha8Rng) -> Result<Trainer, StageError> {
        let vars: Vec<(String, Var)> =
            model.vars().into_iter().filter(|(name, _)| !(recipe.freeze_embeddings && is_embedding(name))).collect();
        let trainable = vars.iter().map(|(_, v)| v.clone()).collect();
        let optim = AdamW::new(vars, recipe.weight_decay)?;
        let schedule = LinearSchedule::new(recipe.lr, recipe.warmup_steps, recipe.total_steps);
        Ok(Trainer { model, trainable, optim, schedule, recipe, dropout_rng, step: 0 })
    }

    /// One optimiser step on these rows (labels 0/1).
    pub fn step(&mut self, rows: &[&[u32]], labels: &[u32]) -> Result<StepOutcome, StageError> {
        on_pool(|| self.step_on_this_thread(rows, labels))
    }

    fn step_on_this_thread(&mut self, rows: &[&[u32]], labels: &[u32]) -> Result<StepOutcome, StageError> {
        let (loss, grads) = Gradients::of_batch(
            &self.model,
            &self.trainable,
            rows,
            labels,
            self.recipe.label_smoothing,
            &mut self.dropout_rng,
            shards(self.model.config().hidden),
        )?;
        let grad_norm = global_norm(&grads, &self.trainable)?;
        let lr = self.schedule.lr(self.step);
        self.optim.step(&grads, lr, clip_scale(grad_norm, self.recipe.grad_clip))?;
        self.step += 1;
        Ok(StepOutcome { loss, lr, grad_norm })
    }
}

/// Mean loss (with the run's label smoothing, as training sees it) and accuracy on labelled rows.
pub fn evaluate(
    model: &Classifier,
    rows: &[Vec<u32>],
    labels: &[u32],
    batch_size: usize,
    label_smoothing: f64,
) -> Result<(f64, f64), StageError> {
    if rows.is_empty() {
        return Err(StageError::Input("cannot evaluate on an empty split".into()));
    }
    let logits = model.predict_logits(rows, batch_size)?;
    let correct = logits.iter().zip(labels).filter(|(l, &y)| u32::from(l[1] > l[0]) == y).count();
    let flat: Vec<f32> = logits.iter().flatten().copied().collect();
    let logits = Tensor::from_vec(flat, (rows.len(), 2), model.device())?;
    let targets = Tensor::new(labels, model.device())?;
    let loss = cross_entropy(&logits, &targets, label_smoothing)?.to_scalar::<f32>()?;
    Ok((f64::from(loss), correct as f64 / rows.len() as f64))
}

/// Word, position and token-type embedding tables (not their LayerNorm).
fn is_embedding(name: &str) -> bool {
    name.contains("embeddings.") && !name.contains("LayerNorm")
}
