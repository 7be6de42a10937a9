//! The `train` stage end to end on the tiny random-init fixture and a few hundred
//! real SST-2 sentences: artifact files, history, the saved HF directory agreeing
//! with the reported dev accuracy, seeded determinism, and input errors.

use std::path::Path;

use pipe_stages::data::tokenize::load_unpadded;
use pipe_stages::data::tokens::TokenizedSplit;
use pipe_stages::model::{Classifier, ModelOptions};
use pipe_stages::testkit::{fixture_snapshot, run_stage, shared_dir, use_offline_hub, Ran};
use pipe_stages::train::history::History;
use pipe_stages::Input;
use serde_json::{json, Value};

const MODEL: &str = "pipe-fixtures/tiny-bert";

/// A hand-made tokenize artifact: the first `n_train` SST-2 train sentences as
/// train, the next `n_dev` as dev, tokenized with the fixture's tokenizer.
fn tokenize_artifact(dir: &Path, n_train: usize, n_dev: usize) -> Input {
    use_offline_hub();
    std::fs::create_dir_all(dir).unwrap();
    let snapshot = fixture_snapshot("pipe-fixtures/tiny-bert");
    let (json, tokenizer) = load_unpadded(&snapshot.join("tokenizer.json")).unwrap();
    std::fs::write(dir.join("tokenizer.json"), json).unwrap();
    let tsv = std::fs::read_to_string(shared_dir().join("data/sst2/train.tsv")).unwrap();
    let rows: Vec<(String, i64)> = tsv
        .lines()
        .skip(1)
        .take(n_train + n_dev)
        .map(|l| {
            let (text, label) = l.rsplit_once('\t').unwrap();
            (text.to_string(), label.parse().unwrap())
        })
        .collect();
    let split = |rows: &[(String, i64)]| TokenizedSplit {
        ids: rows.iter().map(|(t, _)| tokenizer.encode(t.as_str(), true).unwrap().get_ids().to_vec()).collect(),
        labels: rows.iter().map(|r| r.1).collect(),
    };
    split(&rows[..n_train]).write(&dir.join("train.safetensors")).unwrap();
    split(&rows[n_train..]).write(&dir.join("dev.safetensors")).unwrap();
    Input {
        stage: "tokenize".into(),
        kind: "tokenize".into(),
        instance: "tokenize".into(),
        matrix: Default::default(),
        params: json!({"model": MODEL, "revision": "main", "max_len": 128}),
        dir: dir.to_path_buf(),
        metrics: json!({}),
    }
}

fn train(tokenize: &Input, with: Value, out: &Path, seed: u64) -> Ran {
    run_stage("train", with, vec![tokenize.clone()], out, seed).unwrap_or_else(|e| panic!("train: {e}"))
}

/// Fast settings for the 2-layer fixture (a high lr so the curves move).
fn quick(extra: Value) -> Value {
    let mut with = json!({"epochs": 2, "batch_size": 16, "lr": 1e-3, "eval_batch_size": 64});
    with.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    with
}

fn metric(ran: &Ran, key: &str) -> f64 {
    ran.metrics.get(key).and_then(Value::as_f64).unwrap_or_else(|| panic!("metric {key} missing: {:?}", ran.metrics))
}

#[test]
fn trains_the_tiny_fixture_and_writes_the_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    let tok = tokenize_artifact(&tmp.path().join("tokenize"), 320, 96);
    let ran = train(&tok, quick(json!({"select_by": "dev_accuracy"})), &tmp.path().join("train"), 7);

    for file in ["best.safetensors", "last.safetensors", "history.json", "training_loss.png", "training_acc.png"] {
        let len = std::fs::metadata(ran.dir.join(file)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000 || (file == "history.json" && len > 100), "{file}: {len} bytes");
    }
    for file in ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json"] {
        assert!(ran.dir.join("model").join(file).is_file(), "model/{file} missing");
    }

    let history = History::read(&ran.dir.join("history.json")).unwrap();
    assert_eq!(history.epochs.len(), 2);
    assert_eq!(history.steps.len(), 2 * 320 / 16);
    assert_eq!(metric(&ran, "steps"), 40.0);
    assert!(history.steps.iter().all(|s| s.loss.is_finite() && s.grad_norm > 0.0));
    // Warmup ceil(0.06 * 40) = 3 steps from 0, then linear decay.
    assert_eq!(history.steps[0].lr, 0.0);
    assert!(history.steps[3].lr > history.steps[39].lr && history.steps[39].lr > 0.0);
    let best = history.best().unwrap();
    assert!(best.best);
    assert_eq!(metric(&ran, "best_epoch"), best.epoch as f64);
    assert_eq!(metric(&ran, "best_dev_accuracy"), best.dev_accuracy);
    assert_eq!(metric(&ran, "train_loss"), history.epochs[1].train_loss);
    assert!(metric(&ran, "examples_per_second") > 0.0);

    // The saved HF directory is the best checkpoint: it reproduces the recorded dev accuracy.
    let model = Classifier::from_dir(&ran.dir.join("model"), &ModelOptions::default()).unwrap();
    let dev = TokenizedSplit::read(&tok.dir.join("dev.safetensors")).unwrap();
    let logits = model.predict_logits(&dev.ids, 64).unwrap();
    let correct = logits.iter().zip(&dev.labels).filter(|(l, &y)| i64::from(l[1] > l[0]) == y).count();
    assert_eq!(correct as f64 / dev.len() as f64, best.dev_accuracy);
    let config: Value = serde_json::from_slice(&std::fs::read(ran.dir.join("model/config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"], json!(["BertForSequenceClassification"]));
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let tok = tokenize_artifact(&tmp.path().join("tokenize"), 192, 64);
    let with = quick(json!({"epochs": 1}));
    let a = train(&tok, with.clone(), &tmp.path().join("a"), 1);
    let b = train(&tok, with.clone(), &tmp.path().join("b"), 1);
    let c = train(&tok, with, &tmp.path().join("c"), 2);
    let bytes = |r: &Ran, f: &str| std::fs::read(r.dir.join(f)).unwrap();
    for file in ["best.safetensors", "last.safetensors", "history.json", "model/model.safetensors", "training_loss.png"]
    {
        assert!(bytes(&a, file) == bytes(&b, file), "{file} differs between two runs with seed 1");
    }
    assert!(bytes(&a, "best.safetensors") != bytes(&c, "best.safetensors"), "seeds 1 and 2 gave the same weights");
}

#[test]
fn subset_patience_and_frozen_embeddings() {
    let tmp = tempfile::tempdir().unwrap();
    let tok = tokenize_artifact(&tmp.path().join("tokenize"), 256, 64);
    // lr 0 never improves the dev loss after epoch 1, so patience 1 stops after epoch 2.
    let with = quick(json!({"epochs": 4, "train_subset": 100, "patience": 1, "lr": 1e-12, "freeze_embeddings": true}));
    let ran = train(&tok, with, &tmp.path().join("train"), 3);
    assert_eq!(metric(&ran, "train_examples"), 100.0);
    let history = History::read(&ran.dir.join("history.json")).unwrap();
    assert!(history.stopped_early, "{:?}", history.epochs);
    assert!(history.epochs.len() < 4);

    // Frozen embeddings: the word embedding table of best.safetensors is the hub's.
    let saved = std::fs::read(ran.dir.join("model/model.safetensors")).unwrap();
    let saved = safetensors::SafeTensors::deserialize(&saved).unwrap();
    let name = saved.names().into_iter().find(|n| n.ends_with("embeddings.word_embeddings.weight")).unwrap();
    let hub_dir = fixture_snapshot("pipe-fixtures/tiny-bert");
    let hub = std::fs::read(hub_dir.join("model.safetensors")).unwrap();
    let hub = safetensors::SafeTensors::deserialize(&hub).unwrap();
    assert!(saved.tensor(name).unwrap().data() == hub.tensor(name).unwrap().data());
}

#[test]
fn unlabelled_dev_rows_are_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let tok = tokenize_artifact(&tmp.path().join("tokenize"), 32, 8);
    TokenizedSplit { ids: vec![vec![101, 102]], labels: vec![-1] }.write(&tok.dir.join("dev.safetensors")).unwrap();
    let err = run_stage("train", quick(json!({})), vec![tok], &tmp.path().join("train"), 1).err().expect("must fail");
    assert!(err.to_string().contains("dev.safetensors"), "{err}");
}

/// The quick pipeline's recipe on real data (slow: `cargo test -p pipe-stages --test train
/// -- --ignored --nocapture`): download, split and tokenize the offline SST-2, then train
/// paraphrase-MiniLM-L3-v2 on a stratified 4,000-sentence subset for 2 epochs.
#[test]
#[ignore]
fn quick_recipe_learns_sst2() {
    use_offline_hub();
    let tmp = tempfile::tempdir().unwrap();
    let model = "sentence-transformers/paraphrase-MiniLM-L3-v2";
    let step = |kind: &str, with: Value, inputs: Vec<Input>| {
        run_stage(kind, with, inputs, &tmp.path().join(kind), 42).unwrap_or_else(|e| panic!("{kind}: {e}"))
    };
    let download = step("download", json!({"dataset": "stanfordnlp/sst2"}), vec![]);
    let split = step("split", json!({}), vec![download.as_input("download")]);
    let tokenize = step("tokenize", json!({"model": model}), vec![split.as_input("split")]);
    let started = std::time::Instant::now();
    let ran =
        step("train", json!({"lr": 5e-5, "epochs": 2, "train_subset": 4000}), vec![tokenize.as_input("tokenize")]);
    let history = History::read(&ran.dir.join("history.json")).unwrap();
    for e in &history.epochs {
        println!(
            "epoch {}: train loss {:.4}, dev loss {:.4}, dev accuracy {:.4}",
            e.epoch, e.train_loss, e.dev_loss, e.dev_accuracy
        );
    }
    println!("wall {:.0} s; metrics {:?}", started.elapsed().as_secs_f64(), ran.metrics);
    assert!(metric(&ran, "best_dev_accuracy") > 0.8, "{:?}", history.epochs);
}
