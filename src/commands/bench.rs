//! `pipe bench train|infer|peak`: training or inference throughput of a hub model on
//! real SST-2 batches (`pipe_stages::train::bench` measures; this parses and prints),
//! or the machine's matrix-product peak (`peak`). Every report names the CPU and the
//! SIMD level it ran at, since figures from different machines or levels differ.

mod peak;

use std::path::PathBuf;

use pipe_stages::data::hub::model_file;
use pipe_stages::model::{ModelConfig, PrecisionChoice, Quantize};
use pipe_stages::simd;
use pipe_stages::train::bench::{bench_infer, bench_train, BenchMode, BenchOptions};
use pipe_stages::StageError;
use serde::Serialize;

use crate::{suggest, Error};

/// What to time.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    /// Full optimiser steps: dropout forward, backward, gradient clipping, AdamW
    Train,
    /// Eval-mode forward passes to logits
    Infer,
    /// The dense layers' matrix product alone, 1152x768 times (3072x768)^T: the peak
    /// GFLOP/s that --peak-gflops takes (no model; --steps products per repeat)
    Peak,
}

/// Where the timed batches come from.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Batches {
    /// SST-2 sentences from the HF cache (train split for `train`, validation for `infer`),
    /// cut into batches as the train stage and prediction cut them
    Sst2,
}

impl Batches {
    fn dataset(self) -> &'static str {
        match self {
            Batches::Sst2 => "stanfordnlp/sst2",
        }
    }
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe bench infer --model pipe-fixtures/tiny-bert --steps 2
  pipe bench peak --precision fp32 --repeats 5
  pipe bench train --model distilbert/distilbert-base-uncased --peak-gflops 315 --json
  pipe bench train --model sentence-transformers/all-MiniLM-L6-v2 --dump-batches batches.json
  pipe bench train --model pipe-fixtures/tiny-distilbert --config dim=768 --config hidden_dim=3072 \
      --config n_heads=12 --config n_layers=6 --config max_position_embeddings=512   (DistilBERT-base size)")]
pub struct Args {
    #[arg(value_enum)]
    pub mode: Mode,
    /// Hub model repo, read from the HF cache ($HF_HOME) [required for train and infer]
    #[arg(long, value_name = "REPO", required_if_eq_any([("mode", "train"), ("mode", "infer")]))]
    pub model: Option<String>,
    #[arg(long, default_value = "main")]
    pub revision: String,
    /// Source of the batches
    #[arg(long, value_enum, default_value = "sst2")]
    pub batches: Batches,
    /// Measured batches per repeat [default: 20 for train, 5 for infer, 10 products for peak]
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,
    /// Sentences per batch [default: 32 for train, 128 for infer]
    #[arg(long, value_name = "B")]
    pub batch_size: Option<usize>,
    /// Untimed batches first [default: 3 for train, 1 for infer, 2 products for peak]
    #[arg(long, value_name = "N")]
    pub warmup: Option<usize>,
    /// Times the measured batches run; the figures are medians
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub repeats: usize,
    /// Tokens per sentence at most
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub max_len: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// This machine's peak GFLOP/s, to report the achieved share of it
    #[arg(long, value_name = "GFLOPS")]
    pub peak_gflops: Option<f64>,
    /// Replace a config.json field of the model (repeatable); every weight is then
    /// drawn at random (N(0, 0.02)) instead of loaded: a resized model, for timing
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    pub config: Vec<(String, String)>,
    /// Precision of the dense layers' matrix products, as the train stage's `precision`
    #[arg(long, value_name = "P", value_enum, default_value_t = PrecisionChoice::Auto)]
    pub precision: PrecisionChoice,
    /// Quantize the dense layers (infer only; int8: dynamic, as PyTorch's quantize_dynamic)
    #[arg(long, value_name = "Q", value_enum, default_value_t = Quantize::None)]
    pub quantize: Quantize,
    /// Write the exact batches (token ids, labels) as JSON, for timing them elsewhere
    #[arg(long, value_name = "FILE")]
    pub dump_batches: Option<PathBuf>,
    /// The full report as JSON
    #[arg(long)]
    pub json: bool,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

pub fn execute(args: Args) -> Result<(), Error> {
    // NaN is no peak either.
    if args.peak_gflops.is_some_and(|p| p.is_nan() || p <= 0.0) {
        return Err(Error::Config("--peak-gflops must be a positive number".into()));
    }
    let precision = args.precision.resolve();
    if let Some(why) = precision.slow_here() {
        eprintln!("warning: {why}");
    }
    let machine = Machine::here();
    let mode = match args.mode {
        Mode::Peak => {
            let products = args.steps.unwrap_or(10);
            if products == 0 || args.repeats == 0 {
                return Err(Error::Config("--steps and --repeats must be at least 1".into()));
            }
            let report = peak::measure(precision, products, args.warmup.unwrap_or(2), args.repeats);
            return print(&report, report.summary(), &machine, args.json);
        }
        Mode::Train => BenchMode::Train,
        Mode::Infer => BenchMode::Infer,
    };
    // clap requires --model for train and infer; this only keeps the two in step.
    let model = args.model.ok_or_else(|| Error::Config("--model is required for train and infer".into()))?;
    let mut opts = BenchOptions::new(mode, &model);
    opts.revision = args.revision;
    opts.dataset = args.batches.dataset().into();
    opts.batches = args.steps.unwrap_or(opts.batches);
    opts.batch_size = args.batch_size.unwrap_or(opts.batch_size);
    opts.warmup = args.warmup.unwrap_or(opts.warmup);
    opts.repeats = args.repeats;
    opts.max_len = args.max_len;
    opts.seed = args.seed;
    opts.peak_gflops = args.peak_gflops;
    opts.dump_batches = args.dump_batches;
    known_fields(&model, &opts.revision, &args.config)?;
    opts.config = args.config;
    opts.precision = precision;
    opts.quantize = args.quantize;
    let report = match mode {
        BenchMode::Train => bench_train(&opts),
        BenchMode::Infer => bench_infer(&opts),
    }?;
    print(&report, report.summary(), &machine, args.json)
}

/// `--config` replaces fields of the model's config.json; a key it does not have
/// (a typo) would otherwise be ignored by the model, yet still switch to random init.
fn known_fields(model: &str, revision: &str, fields: &[(String, String)]) -> Result<(), Error> {
    if fields.is_empty() {
        return Ok(());
    }
    // Given twice, one value would silently win.
    let twice = (fields.iter().enumerate())
        .find_map(|(i, (key, value))| Some((key, &fields[..i].iter().find(|(k, _)| k == key)?.1, value)));
    if let Some((key, first, second)) = twice {
        return Err(Error::Config(format!("--config {key} is given twice ({first} and {second}): give it once")));
    }
    let config = ModelConfig::read(&model_file(model, revision, "config.json")?).map_err(StageError::from)?;
    let known: Vec<&str> = config.raw.as_object().into_iter().flat_map(|m| m.keys().map(String::as_str)).collect();
    match fields.iter().find(|(key, _)| !known.contains(&key.as_str())) {
        Some((key, _)) => Err(Error::Config(format!(
            "--config {key}: {model}'s config.json has no field `{key}`{}",
            suggest::hint(key, known.iter().copied())
        ))),
        None => Ok(()),
    }
}

/// The CPU a figure was measured on and the SIMD level the kernels ran at.
#[derive(Serialize)]
struct Machine {
    /// Model name and the SIMD flags that matter ("...; avx2 fma avx512f ...").
    cpu: String,
    simd_level: &'static str,
    /// The best level this CPU has.
    simd_detected: &'static str,
    /// Why `simd_level` is below it, if it is ("PIPE_SIMD=avx2 caps amx").
    simd_capped: Option<String>,
}

impl Machine {
    fn here() -> Machine {
        Machine {
            cpu: simd::cpu_description(),
            simd_level: simd::level().name(),
            simd_detected: simd::detected().name(),
            simd_capped: simd::capped(),
        }
    }

    fn line(&self) -> String {
        let cap = self.simd_capped.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
        format!("CPU: {}\nSIMD level: {}{cap}", self.cpu, self.simd_level)
    }
}

/// A report with the machine it ran on: its summary and two machine lines, or one
/// JSON object with the machine's fields beside the report's.
fn print<R: Serialize>(report: &R, summary: String, machine: &Machine, json: bool) -> Result<(), Error> {
    #[derive(Serialize)]
    struct WithMachine<'a, R> {
        #[serde(flatten)]
        report: &'a R,
        #[serde(flatten)]
        machine: &'a Machine,
    }
    if json {
        let text = serde_json::to_string_pretty(&WithMachine { report, machine })
            .map_err(|e| Error::Failed { message: e.to_string(), config: false })?;
        println!("{text}");
    } else {
        println!("{summary}\n{}", machine.line());
    }
    Ok(())
}
