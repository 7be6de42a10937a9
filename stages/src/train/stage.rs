//! The `train` stage: fine-tunes the tokenize stage's model on its train split,
//! picks the best epoch on dev, and writes the checkpoints, history and curves.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

use super::batches::train_batches;
use super::curves::{accuracy_curve, loss_curve};
use super::history::{EpochRecord, History, StepRecord};
use super::params::{TrainParams, PRECISION};
use super::rows::labelled;
use super::subset::stratified;
use super::trainer::{evaluate, Trainer};
use super::warnings;
use crate::data::hub::model_file;
use crate::model::{Classifier, ModelConfig, Precision};
use crate::rng::derive;
use crate::{interrupt, params, planned_at, Context, Stage, StageError, Upstream};

pub struct Train;

/// Tokenizer files of the hub repo copied beside tokenize's tokenizer.json into
/// `model/`, when the repo has them (transformers' AutoTokenizer reads them).
const TOKENIZER_EXTRAS: [&str; 3] = ["tokenizer_config.json", "special_tokens_map.json", "vocab.txt"];

impl Stage for Train {
    fn kind(&self) -> &'static str {
        "train"
    }

    fn version(&self) -> u32 {
        7
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        TrainParams::resolve_at(raw, planned_at::level())
    }

    fn implicit(&self) -> Value {
        json!({PRECISION: Precision::Fp32.name()})
    }

    fn check(&self, params: &Value, workdir: &Path, upstream: &[Upstream]) -> Result<(), StageError> {
        let p: TrainParams = params::parse(params)?;
        let tokenize = upstream.iter().find(|u| u.kind == "tokenize");
        let inherited = |key: &str| tokenize.and_then(|t| t.params.get(key)).and_then(Value::as_str);
        let Some(repo) = p.model.as_deref().or(inherited("model")) else { return Ok(()) };
        if workdir.join(repo).is_dir() {
            let whose = if p.model.is_some() { "" } else { " (tokenize's)" };
            return Err(StageError::param(
                "model",
                format!(
                    "`{repo}`{whose} is a local directory; train loads its model from the Hugging Face \
                     cache: give `model:` a hub id"
                ),
            ));
        }
        let Some(n) = p.num_layers else { return Ok(()) };
        let revision = p.revision.as_deref().or(inherited("revision")).unwrap_or("main");
        // Not in the cache yet: the run fetches it and checks then.
        let Ok(config) = model_file(repo, revision, "config.json") else { return Ok(()) };
        let layers = ModelConfig::read(&config).map_err(|e| StageError::Failed(e.to_string()))?.layers;
        if n > layers {
            return Err(StageError::param("num_layers", format!("must be 1..={layers} for {repo}, got {n}")));
        }
        Ok(())
    }

    fn headline(&self) -> &'static [&'static str] {
        &["best_dev_accuracy", "best_dev_loss", "best_epoch"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let p: TrainParams = params::parse(&ctx.params)?;
        let tokenize = ctx.input("tokenize")?;
        let upstream = |key: &str| tokenize.params.get(key).and_then(Value::as_str).map(str::to_string);
        let repo = p.model.clone().or_else(|| upstream("model")).ok_or_else(|| {
            StageError::param(
                "model",
                format!("not given, and the upstream tokenize artifact {} names none", tokenize.dir.display()),
            )
        })?;
        let revision = p.revision.clone().or_else(|| upstream("revision")).unwrap_or_else(|| "main".into());
        let train = labelled(&tokenize.dir.join("train.safetensors"), p.max_len)?;
        let dev = labelled(&tokenize.dir.join("dev.safetensors"), p.max_len)?;
        let tokenizer_files = tokenizer_files(&tokenize.dir, &repo, &revision)?;
        let train = match p.train_subset {
            Some(n) => {
                if let Some(w) = warnings::subset_exceeds(n, train.ids.len()) {
                    eprintln!("warning: stage `{}`: {w}", ctx.instance);
                }
                let keep = stratified(
                    &train.labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>(),
                    n,
                    &mut derive(ctx.seed, "train/subset"),
                );
                train.select(&keep)
            }
            None => train,
        };

        if let Some(why) = p.precision.slow_here() {
            eprintln!("warning: train: {why}");
        }
        let model = Classifier::from_hub(&repo, &revision, &p.model_options(), ctx.seed)?;
        let steps_per_epoch = train.ids.len().div_ceil(p.batch_size);
        let total_steps = steps_per_epoch * p.epochs;
        let recipe = p.recipe(total_steps);
        if let Some(w) = warnings::warmup_covers_all(&p, train.ids.len(), &recipe) {
            eprintln!("warning: stage `{}`: {w}", ctx.instance);
        }
        let mut trainer = Trainer::new(model, recipe, derive(ctx.seed, "train/dropout"))?;
        let mut shuffle = derive(ctx.seed, "train/shuffle");
        let lengths = train.lengths();

        let mut history = History { select_by: p.select_by.name().into(), ..History::default() };
        let mut best: Option<(f64, f64)> = None;
        let mut since_best = 0;
        let mut epoch_seconds = Vec::new();
        let mut step_seconds = 0.0;
        let started = Instant::now();
        ctx.progress.set_length(total_steps as u64);
        for epoch in 1..=p.epochs {
            let epoch_start = Instant::now();
            let mut losses = Vec::with_capacity(steps_per_epoch);
            for batch in train_batches(&lengths, p.batch_size, &mut shuffle) {
                // Ctrl-C stops a run within a step, not after minutes of training
                // (the dev evaluation checks between its batches).
                interrupt::check()?;
                let rows: Vec<&[u32]> = batch.iter().map(|&i| train.ids[i].as_slice()).collect();
                let labels: Vec<u32> = batch.iter().map(|&i| train.labels[i]).collect();
                let t = Instant::now();
                let out = trainer.step(&rows, &labels)?;
                step_seconds += t.elapsed().as_secs_f64();
                if !out.loss.is_finite() {
                    return Err(StageError::Failed(format!(
                        "stage `{}`: training loss became {} at step {} (epoch {epoch}); lower `lr` or check the data",
                        ctx.instance,
                        out.loss,
                        history.steps.len() + 1
                    )));
                }
                losses.push(out.loss);
                history.steps.push(StepRecord {
                    step: history.steps.len() + 1,
                    epoch,
                    loss: out.loss,
                    lr: out.lr,
                    grad_norm: out.grad_norm,
                });
                report_progress(ctx, epoch, p.epochs, history.steps.len(), total_steps, &losses, started);
            }
            ctx.progress.set_message(&format!("epoch {epoch}/{}: evaluating on dev", p.epochs));
            let (dev_loss, dev_accuracy) =
                evaluate(&trainer.model, &dev.ids, &dev.labels, p.eval_batch_size, p.label_smoothing)?;
            let improved = p.select_by.improves(dev_loss, dev_accuracy, best);
            if improved {
                best = Some((dev_loss, dev_accuracy));
                history.best_epoch = epoch;
                since_best = 0;
                trainer.model.save_safetensors(&ctx.out_path("best.safetensors")?)?;
                trainer.model.save_hf_dir(&ctx.out_dir.join("model"), &tokenizer_files)?;
            } else {
                since_best += 1;
            }
            let train_loss = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
            history.epochs.push(EpochRecord { epoch, train_loss, dev_loss, dev_accuracy, best: improved });
            epoch_seconds.push(epoch_start.elapsed().as_secs_f64());
            if p.patience.is_some_and(|n| since_best >= n) && epoch < p.epochs {
                history.stopped_early = true;
                break;
            }
        }
        let train_seconds = started.elapsed().as_secs_f64();
        trainer.model.save_safetensors(&ctx.out_path("last.safetensors")?)?;
        history.write(&ctx.out_path("history.json")?)?;
        loss_curve(&ctx.out_path("training_loss.png")?, &history)?;
        accuracy_curve(&ctx.out_path("training_acc.png")?, &history)?;

        let best = history.best().cloned().ok_or_else(|| StageError::Failed("no epoch was evaluated".into()))?;
        let last = history.epochs.last().cloned().unwrap_or_else(|| best.clone());
        let examples_seen: usize = history.epochs.len() * train.ids.len();
        ctx.metric("best_epoch", best.epoch);
        ctx.metric("best_dev_loss", best.dev_loss);
        ctx.metric("best_dev_accuracy", best.dev_accuracy);
        ctx.metric("train_loss", last.train_loss);
        ctx.metric("last_dev_loss", last.dev_loss);
        ctx.metric("last_dev_accuracy", last.dev_accuracy);
        ctx.metric("epochs_run", history.epochs.len());
        ctx.metric("stopped_early", history.stopped_early);
        ctx.metric("steps", history.steps.len());
        ctx.metric("train_examples", train.ids.len());
        ctx.metric("dev_examples", dev.ids.len());
        ctx.metric("train_seconds", train_seconds);
        ctx.metric("epoch_seconds", epoch_seconds);
        // Optimiser steps only (no dev evaluation, no checkpoint writing).
        ctx.metric("examples_per_second", examples_seen as f64 / step_seconds.max(1e-9));
        ctx.metric("model", repo);
        ctx.metric("revision", revision);
        Ok(())
    }
}

/// tokenize's tokenizer.json (padding and truncation off) and the repo's other tokenizer files it has.
fn tokenizer_files(tokenize_dir: &Path, repo: &str, revision: &str) -> Result<Vec<PathBuf>, StageError> {
    let main = tokenize_dir.join("tokenizer.json");
    if !main.is_file() {
        return Err(StageError::Input(format!("{}: missing from the tokenize artifact", main.display())));
    }
    let mut files = vec![main];
    files.extend(TOKENIZER_EXTRAS.iter().filter_map(|f| model_file(repo, revision, f).ok()));
    Ok(files)
}

fn report_progress(
    ctx: &Context,
    epoch: usize,
    epochs: usize,
    step: usize,
    total: usize,
    losses: &[f64],
    started: Instant,
) {
    ctx.progress.set_position(step as u64);
    let recent = &losses[losses.len().saturating_sub(50)..];
    let loss = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
    let per_step = started.elapsed().as_secs_f64() / step as f64;
    let eta = (per_step * (total - step) as f64).round() as u64;
    ctx.progress.set_message(&format!(
        "epoch {epoch}/{epochs} step {step}/{total} loss {loss:.4} eta {}m{:02}s",
        eta / 60,
        eta % 60
    ));
}
