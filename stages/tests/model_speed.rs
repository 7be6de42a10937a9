//! Release-profile throughput probe of all-MiniLM-L6-v2 for profiling the model
//! code (slow, ignored): `cargo test --release -p pipe-stages --test model_speed
//! -- --ignored --nocapture`. SPEED_MODE=train|infer, SPEED_BATCHES and
//! SPEED_REPEATS size the run (defaults: both modes, 5 batches, 1 repeat).
//! Run it alone (`minilm_speed_probe` is this file's only test): it sets the
//! process environment.

use pipe_stages::testkit::use_offline_hub;
use pipe_stages::train::bench::{bench_infer, bench_train, BenchMode, BenchOptions};

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
#[ignore]
fn minilm_speed_probe() {
    // As the `pipe` binary does at start (src/runtime.rs); a CANDLE_NUM_THREADS the user set wins.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    use_offline_hub();
    let modes = match std::env::var("SPEED_MODE").as_deref() {
        Ok("train") => vec![BenchMode::Train],
        Ok("infer") => vec![BenchMode::Infer],
        _ => vec![BenchMode::Infer, BenchMode::Train],
    };
    for mode in modes {
        let mut opts = BenchOptions::new(mode, "sentence-transformers/all-MiniLM-L6-v2");
        opts.batches = env_usize("SPEED_BATCHES", 5);
        opts.repeats = env_usize("SPEED_REPEATS", 1);
        opts.warmup = 1;
        let report = match mode {
            BenchMode::Train => bench_train(&opts),
            BenchMode::Infer => bench_infer(&opts),
        }
        .unwrap();
        println!("{}", report.summary());
        assert!(report.examples_per_second > 0.0);
    }
}
