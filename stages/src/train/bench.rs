//! Training and inference throughput (`pipe bench train|infer`) on real SST-2
//! sentences tokenized with the model's tokenizer: the batches are cut exactly as
//! the `train` stage (length-bucketed, batch 32) and prediction (sorted by length,
//! batch 128) cut them, and can be dumped as JSON so another implementation (the
//! PyTorch baseline) times the very same batches.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

use super::batches::{eval_batches, padded_len, train_batches};
use super::params::TrainParams;
use super::rows::{capped, Rows};
use super::trainer::Trainer;
use crate::data::hub::{dataset_files, model_file};
use crate::data::table;
use crate::data::tokenize::load_unpadded;
use crate::model::{Batch, Classifier, Mode, ModelConfig, ModelOptions, Precision, Quantize};
use crate::numfmt::count;
use crate::rng::derive;
use crate::StageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchMode {
    /// Full optimiser steps: dropout forward, backward, gradient clipping, AdamW
    Train,
    /// Eval-mode forward passes to logits
    Infer,
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Hub model repo (from the HF cache).
    pub model: String,
    pub revision: String,
    /// Hub dataset repo whose parquet files hold the sentences (`sentence`, `label` columns).
    pub dataset: String,
    /// Which of its splits the sentences come from (`train` or `validation`).
    pub split: String,
    pub batch_size: usize,
    /// Batches timed per repeat (all distinct).
    pub batches: usize,
    /// Untimed batches before measuring (allocation, caches).
    pub warmup: usize,
    /// Times the measured batches are run; the report gives the median.
    pub repeats: usize,
    pub max_len: usize,
    pub seed: u64,
    /// The machine's peak GFLOP/s, to express the achieved rate as a share of it.
    pub peak_gflops: Option<f64>,
    /// Writes the exact batches (token ids and labels) here as JSON.
    pub dump_batches: Option<PathBuf>,
    /// `config.json` fields to replace; when any are given, every weight is drawn
    /// at random instead of loaded (a resized model, for timing only).
    pub config: Vec<(String, String)>,
    /// Of the dense layers' matrix products.
    pub precision: Precision,
    /// Quantized dense layers (inference only).
    pub quantize: Quantize,
}

impl BenchOptions {
    /// The defaults of `pipe bench train|infer`: 3 + 20 training batches of 32 SST-2
    /// train sentences; 1 + 5 inference batches of 128 validation sentences (its 872
    /// sentences fill 6).
    pub fn new(mode: BenchMode, model: &str) -> BenchOptions {
        let (split, batch_size, warmup, batches) = match mode {
            BenchMode::Train => ("train", 32, 3, 20),
            BenchMode::Infer => ("validation", 128, 1, 5),
        };
        BenchOptions {
            model: model.to_string(),
            revision: "main".into(),
            dataset: "stanfordnlp/sst2".into(),
            split: split.into(),
            batch_size,
            batches,
            warmup,
            repeats: 3,
            max_len: 128,
            seed: 0,
            peak_gflops: None,
            dump_batches: None,
            config: Vec::new(),
            precision: Precision::Fp32,
            quantize: Quantize::None,
        }
    }
}

/// What a benchmark measured (per-repeat figures are medians over `repeats`).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub mode: BenchMode,
    pub model: String,
    pub precision: Precision,
    #[serde(skip_serializing_if = "Quantize::is_none")]
    pub quantize: Quantize,
    pub threads: usize,
    pub batch_size: usize,
    pub batches: usize,
    pub repeats: usize,
    pub examples: usize,
    /// Mean tokens per example, without and with padding.
    pub mean_real_len: f64,
    pub mean_padded_len: f64,
    /// Wall seconds of each repeat over the measured batches.
    pub repeat_seconds: Vec<f64>,
    pub examples_per_second: f64,
    pub real_tokens_per_second: f64,
    pub padded_tokens_per_second: f64,
    /// Estimated matmul FLOPs of the measured batches (forward; training counts 3x forward).
    pub gflop_per_repeat: f64,
    pub gflops: f64,
    pub peak_gflops: Option<f64>,
    pub peak_share: Option<f64>,
}

impl BenchReport {
    /// A few human-readable lines.
    pub fn summary(&self) -> String {
        let peak = match (self.peak_gflops, self.peak_share) {
            (Some(p), Some(s)) => format!(" ({:.1}% of {p:.0} GFLOP/s peak)", 100.0 * s),
            _ => String::new(),
        };
        format!(
            "{mode:?} {model} ({precision}): {ex:.1} examples/s, {real:.0} real tokens/s, {pad:.0} padded tokens/s, {gf:.1} GFLOP/s{peak}\n\
             {n} of {b} ({real_len:.1} real / {pad_len:.1} padded tokens per example), {threads}, \
             median of {r}: {secs:?} s",
            mode = self.mode,
            model = self.model,
            // Quantized dense layers take no part in the precision.
            precision = if self.quantize.is_none() { self.precision.name() } else { self.quantize.name() },
            ex = self.examples_per_second,
            real = self.real_tokens_per_second,
            pad = self.padded_tokens_per_second,
            gf = self.gflops,
            n = count(self.batches, "batch", "batches"),
            b = self.batch_size,
            real_len = self.mean_real_len,
            pad_len = self.mean_padded_len,
            threads = count(self.threads, "thread", "threads"),
            r = count(self.repeats, "repeat", "repeats"),
            secs = self.repeat_seconds,
        )
    }
}

/// Training throughput: full optimiser steps (forward with dropout, backward, clip, AdamW).
pub fn bench_train(opts: &BenchOptions) -> Result<BenchReport, StageError> {
    if !opts.quantize.is_none() {
        return Err(StageError::param("quantize", "training never quantizes: it is for `pipe bench infer`"));
    }
    let (rows, warm, measured) = prepare(BenchMode::Train, opts)?;
    let model = load(opts)?;
    let config = model.config().clone();
    let total_steps = (warm.len() + measured.len() * opts.repeats.max(1)).max(1);
    let mut trainer = Trainer::new(model, train_params(opts).recipe(total_steps), derive(opts.seed, "bench/dropout"))?;
    let mut step = |batch: &[usize]| -> Result<(), StageError> {
        let ids: Vec<&[u32]> = batch.iter().map(|&i| rows.ids[i].as_slice()).collect();
        let labels: Vec<u32> = batch.iter().map(|&i| rows.labels[i]).collect();
        trainer.step(&ids, &labels).map(|_| ())
    };
    let seconds = time(&warm, &measured, opts.repeats, &mut step)?;
    Ok(report(BenchMode::Train, opts, &config, &rows, &measured, seconds))
}

/// Inference throughput: eval-mode forward passes to logits.
pub fn bench_infer(opts: &BenchOptions) -> Result<BenchReport, StageError> {
    let (rows, warm, measured) = prepare(BenchMode::Infer, opts)?;
    let model = load(opts)?;
    let mut step = |batch: &[usize]| -> Result<(), StageError> {
        let ids: Vec<&[u32]> = batch.iter().map(|&i| rows.ids[i].as_slice()).collect();
        let batch = Batch::pad(&ids, model.device())?;
        // Reading the logits back forces the whole computation.
        model.logits(&batch, Mode::Eval)?.to_vec2::<f32>()?;
        Ok(())
    };
    let seconds = time(&warm, &measured, opts.repeats, &mut step)?;
    Ok(report(BenchMode::Infer, opts, model.config(), &rows, &measured, seconds))
}

/// The train stage's default recipe and model options at the benchmark's precision.
fn train_params(opts: &BenchOptions) -> TrainParams {
    TrainParams { precision: opts.precision, ..TrainParams::default() }
}

fn load(opts: &BenchOptions) -> Result<Classifier, StageError> {
    let model_options = ModelOptions { quantize: opts.quantize, ..train_params(opts).model_options() };
    if opts.config.is_empty() {
        Classifier::from_hub(&opts.model, &opts.revision, &model_options, opts.seed)
    } else {
        Classifier::random_from_hub(&opts.model, &opts.revision, &opts.config, &model_options, opts.seed)
    }
}

type Batches = Vec<Vec<usize>>;

/// The sentences, and the warm-up and measured batches (dumped when asked).
fn prepare(mode: BenchMode, opts: &BenchOptions) -> Result<(Rows, Batches, Batches), StageError> {
    if opts.batch_size == 0 || opts.batches == 0 || opts.repeats == 0 {
        return Err(StageError::param("batches", "batch size, batches and repeats must be at least 1"));
    }
    let rows = sentences(opts)?;
    let lengths = rows.lengths();
    let wanted = opts.warmup + opts.batches;
    let full = |mut batches: Batches| {
        batches.retain(|b| b.len() == opts.batch_size);
        batches
    };
    let mut all = match mode {
        BenchMode::Train => full(train_batches(&lengths, opts.batch_size, &mut derive(opts.seed, "bench/batches"))),
        // Prediction sorts by length; spread the measured batches over the whole range.
        BenchMode::Infer => spread(full(eval_batches(&lengths, opts.batch_size)), wanted),
    };
    if all.len() < wanted {
        return Err(StageError::param(
            "batches",
            format!(
                "{} {} sentences make only {} full batches of {}; {wanted} wanted",
                rows.ids.len(),
                opts.split,
                all.len(),
                opts.batch_size
            ),
        ));
    }
    all.truncate(wanted);
    let measured = all.split_off(opts.warmup);
    if let Some(path) = &opts.dump_batches {
        dump(path, mode, opts, &rows, &all, &measured)?;
    }
    Ok((rows, all, measured))
}

/// `n` batches evenly spaced over `batches` (all of them when there are fewer).
fn spread(batches: Batches, n: usize) -> Batches {
    if batches.len() <= n {
        return batches;
    }
    (0..n).map(|k| batches[k * batches.len() / n].clone()).collect()
}

/// The dataset split's sentences tokenized with the model's tokenizer, capped at max_len.
fn sentences(opts: &BenchOptions) -> Result<Rows, StageError> {
    let files = dataset_files(&opts.dataset, "main")?;
    let prefix = format!("{}-", opts.split);
    let in_split: Vec<&PathBuf> = files
        .iter()
        .filter(|(name, _)| name.rsplit('/').next().is_some_and(|f| f.starts_with(&prefix)))
        .map(|(_, path)| path)
        .collect();
    if in_split.is_empty() {
        return Err(StageError::Hub(format!("dataset {}: no parquet file for split `{}`", opts.dataset, opts.split)));
    }
    let (_, tokenizer) = load_unpadded(&model_file(&opts.model, &opts.revision, "tokenizer.json")?)?;
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for path in in_split {
        let t = table::read(path)?;
        let missing = |c: &str| StageError::Data(format!("{}: no `{c}` column", path.display()));
        let text_col = t.column("sentence").ok_or_else(|| missing("sentence"))?;
        let label_col = t.column("label").ok_or_else(|| missing("label"))?;
        for row in &t.rows {
            texts.push(row[text_col].as_str().unwrap_or_default().to_string());
            // Unlabelled rows (-1) still make valid timing batches; the loss needs a class.
            labels.push(row[label_col].as_u64().map_or(0, |l| l.min(1) as u32));
        }
    }
    let encodings = tokenizer
        .encode_batch(texts, true)
        .map_err(|e| StageError::Failed(format!("tokenizing {} {}: {e}", opts.dataset, opts.split)))?;
    let ids = encodings.iter().map(|e| capped(e.get_ids().to_vec(), Some(opts.max_len))).collect();
    Ok(Rows { ids, labels })
}

/// Runs the warm-up batches once, then the measured ones `repeats` times; seconds per repeat.
fn time(
    warm: &[Vec<usize>],
    measured: &[Vec<usize>],
    repeats: usize,
    step: &mut dyn FnMut(&[usize]) -> Result<(), StageError>,
) -> Result<Vec<f64>, StageError> {
    for b in warm {
        step(b)?;
    }
    let mut seconds = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        for b in measured {
            step(b)?;
        }
        seconds.push(t.elapsed().as_secs_f64());
    }
    Ok(seconds)
}

/// The repo, and the replaced config fields of a resized model.
fn model_name(opts: &BenchOptions) -> String {
    if opts.config.is_empty() {
        return opts.model.clone();
    }
    let fields: Vec<String> = opts.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{} with {} (random init)", opts.model, fields.join(" "))
}

fn report(
    mode: BenchMode,
    opts: &BenchOptions,
    config: &ModelConfig,
    rows: &Rows,
    measured: &[Vec<usize>],
    seconds: Vec<f64>,
) -> BenchReport {
    let lengths = rows.lengths();
    let examples: usize = measured.iter().map(Vec::len).sum();
    let real: usize = measured.iter().flatten().map(|&i| lengths[i]).sum();
    let padded: usize = measured.iter().map(|b| padded_len(&lengths, b)).sum();
    let forward: f64 =
        measured.iter().map(|b| forward_flops(config, b.len(), padded_len(&lengths, b) / b.len().max(1))).sum();
    let flop = match mode {
        // Backward costs about twice the forward (gradients for inputs and for weights).
        BenchMode::Train => 3.0 * forward,
        BenchMode::Infer => forward,
    };
    let median = median(&seconds);
    let gflops = flop / 1e9 / median;
    BenchReport {
        mode,
        model: model_name(opts),
        precision: opts.precision,
        quantize: opts.quantize,
        threads: threads(),
        batch_size: opts.batch_size,
        batches: measured.len(),
        repeats: seconds.len(),
        examples,
        mean_real_len: real as f64 / examples as f64,
        mean_padded_len: padded as f64 / examples as f64,
        repeat_seconds: seconds,
        examples_per_second: examples as f64 / median,
        real_tokens_per_second: real as f64 / median,
        padded_tokens_per_second: padded as f64 / median,
        gflop_per_repeat: flop / 1e9,
        gflops,
        peak_gflops: opts.peak_gflops,
        peak_share: opts.peak_gflops.map(|p| gflops / p),
    }
}

/// Matrix-multiply FLOPs of one forward pass over a [b, t] batch: per layer the
/// Q, K, V and output projections (4·h²), the feed-forward (2·h·ff) per token, and
/// the attention scores and weighted values (2·t·h) per token; then the head's
/// dense layer and classifier on b vectors. Elementwise work is left out.
fn forward_flops(config: &ModelConfig, b: usize, t: usize) -> f64 {
    let (h, ff) = (config.hidden as f64, config.intermediate as f64);
    let tokens = (b * t) as f64;
    let per_layer = 2.0 * tokens * (4.0 * h * h + 2.0 * h * ff + 2.0 * t as f64 * h);
    let head = 2.0 * b as f64 * (h * h + 2.0 * h);
    config.layers as f64 * per_layer + head
}

/// The threads the products and the row-parallel kernels run on (`RAYON_NUM_THREADS`, else every
/// physical core the process may run on).
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// The middle value (the mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `{"model", "mode", "batch_size", "warmup": [[ids of row]...] per batch, "batches": same, "labels": [[0/1...]...]}`.
fn dump(
    path: &Path,
    mode: BenchMode,
    opts: &BenchOptions,
    rows: &Rows,
    warm: &[Vec<usize>],
    measured: &[Vec<usize>],
) -> Result<(), StageError> {
    let ids = |batches: &[Vec<usize>]| -> Value {
        batches.iter().map(|b| b.iter().map(|&i| rows.ids[i].clone()).collect::<Vec<_>>()).collect()
    };
    let labels = |batches: &[Vec<usize>]| -> Value {
        batches.iter().map(|b| b.iter().map(|&i| rows.labels[i]).collect::<Vec<_>>()).collect()
    };
    let doc = json!({
        "model": opts.model,
        "mode": mode,
        "dataset": opts.dataset,
        "split": opts.split,
        "batch_size": opts.batch_size,
        "warmup": ids(warm),
        "warmup_labels": labels(warm),
        "batches": ids(measured),
        "labels": labels(measured),
    });
    crate::json::write_compact(path, &doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn spread_takes_evenly_spaced_batches() {
        let batches: Batches = (0..10).map(|i| vec![i]).collect();
        assert_eq!(spread(batches.clone(), 3), vec![vec![0], vec![3], vec![6]]);
        assert_eq!(spread(batches, 20).len(), 10);
    }
}
