//! `pipe bench`: the throughput report's shape on the tiny-bert fixture with real
//! SST-2 validation batches from ../shared/hf, the peak product's report, and the
//! machine (CPU and SIMD level) every report names.

mod support;

use pipe_stages::model::PrecisionChoice;
use serde_json::Value;
use support::{Ran, Test};

fn bench(t: &Test, args: &[&str]) -> Ran {
    t.run_hub(&[&["bench"], args].concat())
}

#[test]
fn infer_reports_throughput_and_dumps_the_batches_it_timed() {
    let t = Test::new();
    let text = bench(
        &t,
        &["infer", "--model", "pipe-fixtures/tiny-bert", "--steps", "2", "--repeats", "1", "--peak-gflops", "100"],
    )
    .success();
    let first = text.stdout.lines().next().unwrap_or_default();
    // `--precision auto`, the default: what it means at this process's level.
    let heading = format!("Infer pipe-fixtures/tiny-bert ({}): ", PrecisionChoice::Auto.resolve().name());
    for part in [heading.as_str(), " examples/s, ", " real tokens/s, ", " GFLOP/s (", "% of 100 GFLOP/s peak)"] {
        assert!(first.contains(part), "{part:?} missing from {first:?}");
    }
    assert!(text.stdout.contains("2 batches of 128"), "{}", text.stdout);
    assert!(text.stdout.contains("\nCPU: "), "{}", text.stdout);
    assert!(text.stdout.contains("\nSIMD level: "), "{}", text.stdout);

    let json = bench(
        &t,
        &[
            "infer",
            "--model",
            "pipe-fixtures/tiny-bert",
            "--steps",
            "2",
            "--repeats",
            "1",
            "--json",
            "--dump-batches",
            "b.json",
        ],
    )
    .success();
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["mode"], "infer");
    assert_eq!(report["batches"], 2);
    assert_eq!(report["examples"], 256);
    assert!(report["examples_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["real_tokens_per_second"].as_f64().unwrap() <= report["padded_tokens_per_second"].as_f64().unwrap());
    assert_eq!(report["peak_share"], Value::Null);
    assert!(report["cpu"].as_str().is_some_and(|c| c.contains("; ")), "{}", report["cpu"]);
    let dumped: Value = serde_json::from_str(&std::fs::read_to_string(t.path().join("b.json")).unwrap()).unwrap();
    assert_eq!(dumped["batches"].as_array().unwrap().len(), 2);
    assert_eq!(dumped["warmup"].as_array().unwrap().len(), 1);
}

/// The level the kernels ran at, the CPU's best and the cap, as `PIPE_SIMD` sets them.
#[test]
fn reports_name_the_simd_level_and_its_cap() {
    let t = Test::new();
    let run = |simd: &str| -> Value {
        let out = t
            .command(&["bench", "peak", "--steps", "1", "--warmup", "0", "--repeats", "1", "--json"])
            .env("PIPE_SIMD", simd)
            .env_remove("PIPE_NO_AMX")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let best = run("amx");
    let detected = best["simd_detected"].as_str().unwrap().to_string();
    assert_eq!(best["simd_level"], detected.as_str());
    assert_eq!(best["simd_capped"], Value::Null);

    let capped = run("baseline");
    assert_eq!(capped["simd_level"], "baseline");
    assert_eq!(capped["simd_detected"], detected.as_str());
    if detected == "baseline" {
        assert_eq!(capped["simd_capped"], Value::Null);
    } else {
        assert_eq!(capped["simd_capped"], format!("PIPE_SIMD=baseline caps {detected}").as_str());
        let text = t
            .command(&["bench", "peak", "--steps", "1", "--warmup", "0", "--repeats", "1"])
            .env("PIPE_SIMD", "baseline")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&text.stdout);
        assert!(stdout.contains(&format!("\nSIMD level: baseline (PIPE_SIMD=baseline caps {detected})\n")), "{stdout}");
    }
}

#[test]
fn peak_times_the_dense_product_alone() {
    let t = Test::new();
    let text =
        t.run(&["bench", "peak", "--precision", "fp32", "--steps", "2", "--warmup", "0", "--repeats", "1"]).success();
    assert!(text.stdout.starts_with("Peak fp32 dense product 1152x768 times (3072x768)^T: "), "{}", text.stdout);
    assert!(text.stdout.contains("2 products of 5.44 GFLOP per repeat"), "{}", text.stdout);

    let json = t
        .run(&["bench", "peak", "--precision", "fp32", "--steps", "1", "--warmup", "1", "--repeats", "3", "--json"])
        .success();
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["mode"], "peak");
    assert_eq!(report["precision"], "fp32");
    assert_eq!((report["m"].as_u64(), report["k"].as_u64(), report["n"].as_u64()), (Some(1152), Some(768), Some(3072)));
    // 2 * 1152 * 768 * 3072 FLOP
    assert_eq!(report["gflop_per_product"], 5.435817984);
    let seconds: Vec<f64> = report["repeat_seconds"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()).collect();
    assert_eq!(seconds.len(), 3);
    let fastest = seconds.iter().copied().fold(f64::INFINITY, f64::min);
    let best = report["best_gflops"].as_f64().unwrap();
    assert!((best - 5.435817984 / fastest).abs() < 1e-9 * best, "{report}");
    assert!(report["gflops"].as_f64().unwrap() <= best, "{report}");

    t.run(&["bench", "peak", "--repeats", "0"]).code(2).stderr_has("at least 1");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let t = Test::new();
    bench(&t, &["infer", "--model", "pipe-fixtures/tiny-bert", "--peak-gflops", "0"])
        .code(2)
        .stderr_has("--peak-gflops");
    bench(&t, &["infer", "--model", "pipe-fixtures/tiny-bert", "--steps", "0"]).code(2).stderr_has("at least 1");
    bench(&t, &["infer", "--model", "pipe-fixtures/tiny-bert", "--batches", "imdb"]).code(2).stderr_has("sst2");
    bench(&t, &["infer", "--model", "pipe-fixtures/tiny-bert", "--precision", "fp16"])
        .code(2)
        .stderr_has("[possible values: auto, fp32, bf16]");
    bench(&t, &["infer", "--model", "nobody/nothing", "--steps", "1"]).code(1).stderr_has("nobody/nothing");
    bench(&t, &["train"]).code(2).stderr_has("--model <REPO>");
}

#[test]
fn int8_quantized_inference_says_so_and_training_refuses_it() {
    let t = Test::new();
    let args = ["--model", "pipe-fixtures/tiny-bert", "--steps", "1", "--warmup", "0", "--repeats", "1"];
    let text = bench(&t, &[&["infer"][..], &args, &["--quantize", "int8"]].concat()).success();
    assert!(text.stdout.starts_with("Infer pipe-fixtures/tiny-bert (int8): "), "{}", text.stdout);
    let json = bench(&t, &[&["infer"][..], &args, &["--quantize", "int8", "--json"]].concat()).success();
    assert_eq!(serde_json::from_str::<Value>(&json.stdout).unwrap()["quantize"], "int8");
    let plain = bench(&t, &[&["infer"][..], &args, &["--json"]].concat()).success();
    assert_eq!(serde_json::from_str::<Value>(&plain.stdout).unwrap().get("quantize"), None);
    bench(&t, &[&["train"][..], &args, &["--quantize", "int8"]].concat())
        .code(2)
        .stderr_has("training never quantizes");
    // At baseline its SSE2 kernel runs, faster than fp32: no warning.
    let baseline =
        t.run_at(Some("baseline"), &[&["bench", "infer"][..], &args, &["--quantize", "int8"]].concat()).success();
    assert!(!baseline.stderr.contains("warning"), "{}", baseline.stderr);
}

#[test]
fn config_fields_resize_the_model_with_random_weights() {
    let t = Test::new();
    let json = bench(
        &t,
        &[
            "train",
            "--model",
            "pipe-fixtures/tiny-distilbert",
            "--config",
            "dim=48",
            "--config",
            "n_heads=6",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--repeats",
            "1",
            "--json",
        ],
    )
    .success();
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["model"], "pipe-fixtures/tiny-distilbert with dim=48 n_heads=6 (random init)");
    // The FLOP count follows the resized width: more than the 32-wide checkpoint's.
    let stock: Value = serde_json::from_str(
        &bench(
            &t,
            &[
                "train",
                "--model",
                "pipe-fixtures/tiny-distilbert",
                "--steps",
                "1",
                "--warmup",
                "0",
                "--repeats",
                "1",
                "--json",
            ],
        )
        .success()
        .stdout,
    )
    .unwrap();
    assert!(report["gflop_per_repeat"].as_f64().unwrap() > stock["gflop_per_repeat"].as_f64().unwrap());

    bench(&t, &["infer", "--model", "pipe-fixtures/tiny-distilbert", "--config", "dim"])
        .code(2)
        .stderr_has("KEY=VALUE");
    bench(&t, &["infer", "--model", "pipe-fixtures/tiny-distilbert", "--config", "dim=50", "--steps", "1"])
        .code(2)
        .stderr_has("not a multiple of 4 heads");
}

#[test]
fn a_config_key_the_model_lacks_a_value_that_is_no_integer_and_0_heads_are_refused() {
    let t = Test::new();
    let config =
        |field: &str| bench(&t, &["infer", "--model", "pipe-fixtures/tiny-bert", "--steps", "1", "--config", field]);
    config("foo=1").code(2).stderr_has("--config foo: pipe-fixtures/tiny-bert's config.json has no field `foo`\n");
    config("hiden_size=64").code(2).stderr_has("has no field `hiden_size` (did you mean `hidden_size`?)");
    config("hidden_size=abc").code(2).stderr_has("`hidden_size` is not an integer >= 0: \"abc\"");
    config("num_attention_heads=0").code(2).stderr_has("0 attention heads: a model needs at least 1");
    bench(
        &t,
        &["infer", "--model", "pipe-fixtures/tiny-bert", "--config", "hidden_size=64", "--config", "hidden_size=32"],
    )
    .code(2)
    .stderr_has("--config hidden_size is given twice (64 and 32): give it once");
}

#[test]
fn bf16_precision_trains_and_says_so() {
    let t = Test::new();
    let args = [
        "train",
        "--model",
        "pipe-fixtures/tiny-bert",
        "--steps",
        "2",
        "--warmup",
        "0",
        "--repeats",
        "1",
        "--precision",
        "bf16",
    ];
    let text = bench(&t, &args).success();
    assert!(text.stdout.starts_with("Train pipe-fixtures/tiny-bert (bf16): "), "{}", text.stdout);
    let report: Value = serde_json::from_str(&bench(&t, &[&args[..], &["--json"]].concat()).success().stdout).unwrap();
    assert_eq!(report["precision"], "bf16");
    assert!(report["examples_per_second"].as_f64().unwrap() > 0.0);

    // At avx2 (forced here) no fast bf16 product runs: the portable one, with a warning.
    let avx2 = |args: &[&str]| t.run_at(Some("avx2"), &[&["bench"][..], args].concat()).success();
    avx2(&args).stderr_has("warning: precision bf16: neither AMX-BF16 tiles nor AVX512-BF16 here");
    // Auto, the default, picks fp32 there: no slow path, no warning.
    let auto = avx2(&args[..args.len() - 2]).stdout_has("Train pipe-fixtures/tiny-bert (fp32): ");
    assert!(!auto.stderr.contains("warning"), "{}", auto.stderr);
}
