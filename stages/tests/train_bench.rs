//! `pipe bench train|infer` support on the tiny fixture: the report's counts agree
//! with the dumped batches, which are real SST-2 sentences in full batches.

use pipe_stages::testkit::use_offline_hub;
use pipe_stages::train::bench::{bench_infer, bench_train, BenchMode, BenchOptions, BenchReport};
use serde_json::Value;

const MODEL: &str = "pipe-fixtures/tiny-bert";

fn run(mode: BenchMode) -> (BenchReport, Value) {
    use_offline_hub();
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("batches.json");
    let mut opts = BenchOptions::new(mode, MODEL);
    opts.batches = 4;
    opts.warmup = 1;
    opts.repeats = 2;
    opts.peak_gflops = Some(100.0);
    opts.dump_batches = Some(dump.clone());
    let report = match mode {
        BenchMode::Train => bench_train(&opts),
        BenchMode::Infer => bench_infer(&opts),
    }
    .unwrap_or_else(|e| panic!("bench {mode:?}: {e}"));
    let dumped = serde_json::from_slice(&std::fs::read(&dump).unwrap()).unwrap();
    (report, dumped)
}

fn check(report: &BenchReport, dumped: &Value, batch_size: usize) {
    let batches = dumped["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 4);
    assert_eq!(dumped["warmup"].as_array().unwrap().len(), 1);
    let rows: Vec<Vec<u64>> = batches
        .iter()
        .flat_map(|b| {
            b.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect())
        })
        .collect();
    assert_eq!(rows.len(), 4 * batch_size);
    assert!(rows.iter().all(|r| r[0] == 101 && *r.last().unwrap() == 102), "rows must be [CLS] ... [SEP]");
    let real: usize = rows.iter().map(Vec::len).sum();
    let padded: usize = batches
        .iter()
        .map(|b| {
            let b = b.as_array().unwrap();
            b.iter().map(|r| r.as_array().unwrap().len()).max().unwrap() * b.len()
        })
        .sum();
    assert_eq!(report.examples, 4 * batch_size);
    assert_eq!(report.repeat_seconds.len(), 2);
    assert!((report.mean_real_len - real as f64 / rows.len() as f64).abs() < 1e-9);
    assert!((report.mean_padded_len - padded as f64 / rows.len() as f64).abs() < 1e-9);
    let ratio = report.padded_tokens_per_second / report.real_tokens_per_second;
    assert!((ratio - padded as f64 / real as f64).abs() < 1e-9);
    assert!(report.examples_per_second > 0.0 && report.gflops > 0.0);
    assert!((report.peak_share.unwrap() - report.gflops / 100.0).abs() < 1e-12);
    assert_eq!(dumped["labels"].as_array().unwrap().len(), 4);
}

#[test]
fn bench_train_times_length_bucketed_training_batches() {
    let (report, dumped) = run(BenchMode::Train);
    check(&report, &dumped, 32);
    assert_eq!(dumped["split"], "train");
    // Length bucketing: little padding.
    assert!(report.mean_padded_len < 1.2 * report.mean_real_len, "{report:?}");
}

#[test]
fn bench_infer_times_inference_batches() {
    let (report, dumped) = run(BenchMode::Infer);
    check(&report, &dumped, 128);
    assert_eq!(dumped["split"], "validation");
}

/// Throughput of the real model (slow: run with `cargo test -p pipe-stages --test train_bench
/// -- --ignored --nocapture`); prints both reports as JSON.
#[test]
#[ignore]
fn minilm_throughput() {
    use_offline_hub();
    for mode in [BenchMode::Infer, BenchMode::Train] {
        let mut opts = BenchOptions::new(mode, "sentence-transformers/all-MiniLM-L6-v2");
        if mode == BenchMode::Train {
            opts.batches = 10;
        }
        opts.peak_gflops = Some(315.0);
        let report = match mode {
            BenchMode::Train => bench_train(&opts),
            BenchMode::Infer => bench_infer(&opts),
        }
        .unwrap();
        println!("{}\n{}", report.summary(), serde_json::to_string(&report).unwrap());
        assert!(report.examples_per_second > 0.0);
    }
}
