//! `pipe predict`: finding the model through run records, its usage errors, and
//! predictions from a model directory saved from the tiny-bert fixture (random
//! weights: the mechanics are checked, not the sentiment).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use pipe::key::KeyParts;
use pipe::record::{RunRecord, StageRecord, Status};
use pipe::store::Store;
use pipe_stages::model::{Classifier, ModelOptions};
use pipe_stages::testkit::{fixture_snapshot, use_offline_hub};
use serde_json::{json, Value};
use support::{Ran, Test};

const SHELL_ONLY: &str = "name: p\nstages:\n  a: {uses: shell, run: echo a > $PIPE_OUT/a}\n";

/// Saves the fixture model with its tokenizer as the train stage's `model/` does.
fn save_model(dir: &Path) {
    use_offline_hub();
    let model = Classifier::from_hub("pipe-fixtures/tiny-bert", "main", &ModelOptions::default(), 42).unwrap();
    let tokenizer = fixture_snapshot("pipe-fixtures/tiny-bert").join("tokenizer.json");
    model.save_hf_dir(dir, &[tokenizer]).unwrap();
}

/// Stores an artifact of kind `train` holding `model/` (when `with_model`), as a run would.
fn train_artifact(store: &Store, seed: u64, with_model: bool) -> String {
    let parts = KeyParts {
        kind: "train".into(),
        version: 1,
        params: json!({}),
        inputs: vec![],
        seed,
        fingerprint: Value::Null,
    };
    let key = parts.key();
    let lock = store.lock(&key, || {}).unwrap();
    let tmp = store.begin(&key, &lock).unwrap();
    if with_model {
        save_model(&tmp.join("model"));
    } else {
        std::fs::write(tmp.join("history.json"), "[]").unwrap();
    }
    store.commit(&tmp, &parts, &Default::default(), &lock).unwrap().key
}

fn stage(instance: &str, kind: &str, key: Option<String>) -> StageRecord {
    StageRecord {
        instance: instance.into(),
        stage: instance.split('[').next().unwrap().into(),
        kind: kind.into(),
        status: Status::Ran,
        key,
        artifact: None,
        seconds: 0.0,
        params: json!({}),
        metrics: Default::default(),
        error: None,
        log: None,
    }
}

fn record(store: &Store, id: &str, stages: Vec<StageRecord>) {
    let r = RunRecord {
        id: id.into(),
        pipeline: "study".into(),
        file: PathBuf::from("study.yaml"),
        started: "2026-11-30T06:00:00.000Z".into(),
        seconds: 1.0,
        ok: true,
        interrupted: false,
        in_progress: false,
        overrides: vec![],
        selected: vec![],
        stages,
    };
    r.save(store).unwrap();
}

fn predict(t: &Test, args: &[&str]) -> Ran {
    t.run_hub(&[&["predict"], args].concat())
}

#[test]
fn usage_errors_exit_2_before_any_model_is_loaded() {
    let t = Test::new();
    predict(&t, &["fine"]).code(2).stderr_has("no runs recorded").stderr_has("--model DIR");
    predict(&t, &["--model", "nowhere", "fine"]).code(2).stderr_has("model directory nowhere does not exist");
    predict(&t, &["--model", "nowhere", "fine", "  "]).code(2).stderr_has("argument 2 is empty");
    std::fs::create_dir(t.path().join("empty")).unwrap();
    predict(&t, &["--model", "empty", "fine"]).code(2).stderr_has("empty: not a model directory (no config.json)");
    predict(&t, &[]).code(2).stderr_has("<TEXT>");

    let t = t.pipeline(SHELL_ONLY);
    t.run(&["run", "p.yaml"]).success();
    predict(&t, &["--run", "nope", "fine"]).code(2).stderr_has("no run `nope`");
    predict(&t, &["fine"]).code(2).stderr_has("has no `train` stage");

    let mut child = t
        .command(&["predict", "--model", "nowhere", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"good\n\nbad\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 2 of stdin is empty"), "{stderr}");
}

#[test]
fn the_model_comes_from_the_runs_train_instance() {
    let t = Test::new();
    let store = Store::new(&t.cache()).unwrap();
    let cls = train_artifact(&store, 1, true);
    let bare = train_artifact(&store, 2, false);
    record(
        &store,
        "20261130T060000.000Z-0001",
        vec![stage("split", "split", None), stage("train", "train", Some(cls.clone()))],
    );
    record(
        &store,
        "20261130T060100.000Z-0002",
        vec![stage("train[dropout=0.1]", "train", Some(cls.clone())), stage("train[dropout=0.3]", "train", Some(bare))],
    );

    // The latest run has two train instances: the error lists them.
    predict(&t, &["a fine film"])
        .code(2)
        .stderr_has("2 train instances: train[dropout=0.1], train[dropout=0.3]")
        .stderr_has("--stage INSTANCE");
    predict(&t, &["--stage", "train[dropout=0.3]", "a fine film"]).code(2).stderr_has("has no `model/` directory");
    predict(&t, &["--stage", "train[dropout=0.5]", "a fine film"])
        .code(2)
        .stderr_has("no train instance `train[dropout=0.5]`");

    let picked = predict(
        &t,
        &["--stage", "train[dropout=0.1]", "--json", "--top", "2", "a gorgeous, witty film", "a dull mess"],
    )
    .success();
    let lines: Vec<Value> = picked.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{}", picked.stdout);
    assert_eq!(lines[0]["text"], "a gorgeous, witty film");
    assert_eq!(lines[0]["top_tokens"].as_array().unwrap().len(), 2);
    let p = lines[0]["probability"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&p), "{p}");
    // The raw logits come along for machine use and agree with the probabilities.
    let logit = |i: usize| lines[0]["logits"][i].as_f64().unwrap();
    let p_positive = 1.0 / (1.0 + (logit(0) - logit(1)).exp());
    assert!((p_positive - lines[0]["probabilities"][1].as_f64().unwrap()).abs() < 1e-6, "{}", picked.stdout);

    // The same model by run id prefix, and by directory, gives the same answer.
    let by_run = predict(&t, &["--run", "20261130T0600", "--top", "2", "a gorgeous, witty film"]).success();
    let by_dir = predict(
        &t,
        &["--model", store.object_dir(&cls).join("model").to_str().unwrap(), "--top", "2", "a gorgeous, witty film"],
    )
    .success();
    assert_eq!(by_run.stdout, by_dir.stdout);
    assert!(by_run.stdout.contains("top tokens: "), "{}", by_run.stdout);
    let first = by_run.stdout.lines().next().unwrap();
    assert!(first.ends_with("a gorgeous, witty film"), "{first}");
    assert_eq!(format!("{:.3}", p), first.split_whitespace().nth(1).unwrap());

    // Quantized to int8, the same model gives nearly the same probability, and still explains it.
    let int8 = predict(
        &t,
        &["--run", "20261130T0600", "--quantize", "int8", "--json", "--top", "2", "a gorgeous, witty film"],
    )
    .success();
    let int8: Value = serde_json::from_str(int8.stdout.trim()).unwrap();
    let p_int8 = int8["probability"].as_f64().unwrap();
    assert!((p_int8 - p).abs() < 0.05 && int8["top_tokens"].as_array().unwrap().len() == 2, "{int8} vs {p}");

    // Bit rot that keeps the size and mtime of a file: the model is re-hashed before it is
    // loaded, so it is refused and quarantined, and then named as gone.
    let config = store.object_dir(&cls).join("model/config.json");
    let mut bytes = std::fs::read(&config).unwrap();
    bytes[0] ^= 0x20;
    support::rot(&config, &bytes);
    predict(&t, &["--run", "20261130T0600", "fine"])
        .code(1)
        .stderr_has(&format!(
            "the artifact of `train` from run 20261130T060000.000Z-0001: object {cls} is corrupt: model/config.json: blake3 "
        ))
        .stderr_has("; moved to ")
        .stderr_has("rerun the pipeline to compute it again");
    predict(&t, &["--run", "20261130T0600", "fine"]).code(2).stderr_has("no longer in");
}

#[test]
fn auto_precision_is_fp32_at_avx2_and_only_a_pinned_bf16_warns() {
    let t = Test::new();
    save_model(&t.path().join("model"));
    let avx2 = |precision: &[&str]| {
        let args =
            [&["predict", "--model", "model", "--top", "0", "--json"][..], precision, &["a gorgeous, witty film"]];
        t.run_at(Some("avx2"), &args.concat()).success()
    };
    let auto = avx2(&[]);
    assert!(!auto.stderr.contains("warning"), "{}", auto.stderr);
    assert_eq!(auto.stdout, avx2(&["--precision", "fp32"]).stdout, "the same logits, to the last bit");
    let bf16 = avx2(&["--precision", "bf16"])
        .stderr_has("warning: precision bf16: neither AMX-BF16 tiles nor AVX512-BF16 here");
    assert_ne!(auto.stdout, bf16.stdout, "bf16 rounds the products' operands");
}

#[test]
fn bf16_warns_of_its_slow_path_and_int8_has_none_at_baseline() {
    let t = Test::new();
    save_model(&t.path().join("model"));
    let args = ["predict", "--model", "model", "--top", "0", "--quantize", "int8", "a witty film"];
    let int8 = t.run_at(Some("baseline"), &args).success();
    assert!(!int8.stderr.contains("warning"), "{}", int8.stderr);
    t.run_at(Some("baseline"), &[&args[..], &["--precision", "bf16"]].concat())
        .success()
        .stderr_has("warning: precision bf16: neither AMX-BF16 tiles nor AVX512-BF16 here");
}

#[test]
fn truncation_blank_tokens_and_count_limits_are_named() {
    let t = Test::new();
    save_model(&t.path().join("model"));
    let model = |args: &[&str]| predict(&t, &[&["--model", "model"][..], args].concat());
    // The fixture has 128 positions: more is refused before any sentence is read.
    model(&["--max-len", "129", "a film"]).code(2).stderr_has("--max-len 129 is more than the model's 128 positions");
    model(&["--max-len", "0", "a film"]).code(2).stderr_has("'--max-len <N>': must be a whole number of at least 2");
    model(&["--ig-steps", "1001", "a film"])
        .code(2)
        .stderr_has("'--ig-steps <N>': must be a whole number from 1 to 1000");
    model(&["a film", "\u{200b}"]).code(2).stderr_has("argument 2 has no tokens besides [CLS]/[SEP]");
    model(&["\u{1}\u{2}"]).code(2).stderr_has("argument 1 has no tokens");
    model(&["a\nfilm"]).code(2).stderr_has("argument 1 has a line break");

    let cut = model(&["--max-len", "3", "--json", "--top", "10", "a good film"])
        .success()
        .stderr_has("warning: argument 1 was cut to its first 3 of 5 tokens (--max-len 3)");
    let cut: Value = serde_json::from_str(cut.stdout.trim()).unwrap();
    assert_eq!((cut["tokens_kept"].as_u64(), cut["tokens_total"].as_u64()), (Some(3), Some(5)), "{cut}");

    let whole = model(&["--json", "--top", "10", "--ig-steps", "20", "not bad at all, a witty film"]).success();
    assert!(!whole.stderr.contains("cut"), "{}", whole.stderr);
    let whole: Value = serde_json::from_str(whole.stdout.trim()).unwrap();
    // Strongest first, of either sign.
    let scores: Vec<f64> =
        whole["top_tokens"].as_array().unwrap().iter().map(|t| t["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0].abs() >= w[1].abs()), "{scores:?}");
    let ig = &whole["integrated_gradients"];
    assert_eq!(ig["steps"], 20);
    assert!((ig["f_input"].as_f64().unwrap() - whole["probability"].as_f64().unwrap()).abs() < 1e-4, "{whole}");
    for field in ["f_baseline", "completeness_gap", "relative_gap"] {
        assert!(ig[field].is_f64(), "{field}: {whole}");
    }
    let skipped = model(&["--json", "--top", "0", "a film"]).success();
    assert!(skipped.stdout.contains("\"integrated_gradients\":null"), "{}", skipped.stdout);
}

#[test]
fn stage_values_may_come_in_any_order() {
    let t = Test::new();
    let store = Store::new(&t.cache()).unwrap();
    let bare = train_artifact(&store, 2, false);
    let other = train_artifact(&store, 3, false);
    record(
        &store,
        "20261130T060000.000Z-0001",
        vec![
            stage("train[pooling=mean,seed=43]", "train", Some(bare)),
            stage("train[pooling=cls,seed=43]", "train", Some(other)),
        ],
    );
    // Found (then refused for its missing model/), not "no train instance"; by some values too.
    for stage in ["train[seed=43,pooling=mean]", "train[pooling=mean]"] {
        predict(&t, &["--stage", stage, "fine"])
            .code(2)
            .stderr_has("`train[pooling=mean,seed=43]` of run 20261130T060000.000Z-0001 has no `model/` directory");
    }
    predict(&t, &["--stage", "train[seed=43]", "fine"]).code(2).stderr_has("has 2 train instances");
}
