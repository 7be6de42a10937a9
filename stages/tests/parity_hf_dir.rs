//! The saved Hugging Face directory: original tensor names (incl. head), values
//! unchanged, config with architectures and id2label; loading it back gives the
//! same logits.

mod parity_util;

use std::collections::BTreeMap;
use std::path::Path;

use parity_util::*;
use pipe_stages::model::{Classifier, Mode, ModelOptions, Pooling};

fn tensors(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors().into_iter().map(|(n, v)| (n, v.data().to_vec())).collect()
}

fn snapshot(repo: &str) -> std::path::PathBuf {
    let dir = pipe_stages::testkit::use_offline_hub().join("hub").join(format!("models--{}", repo.replace('/', "--")));
    let rev = std::fs::read_to_string(dir.join("refs/main")).unwrap();
    dir.join("snapshots").join(rev.trim())
}

#[test]
fn fixtures_round_trip_byte_for_byte() {
    for (repo, arch) in [
        ("pipe-fixtures/tiny-bert", "BertForSequenceClassification"),
        ("pipe-fixtures/tiny-distilbert", "DistilBertForSequenceClassification"),
    ] {
        let opts = options(Pooling::Cls, 0.1);
        let model = load(repo, &opts, 0);
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("model");
        let snap = snapshot(repo);
        model.save_hf_dir(&dir, &[snap.join("tokenizer.json"), snap.join("vocab.txt")]).unwrap();
        assert_eq!(tensors(&dir.join("model.safetensors")), tensors(&snap.join("model.safetensors")), "{repo}");
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["architectures"][0], arch);
        assert_eq!(config["id2label"]["0"], "negative");
        assert_eq!(config["id2label"]["1"], "positive");
        assert_eq!(config["label2id"]["positive"], 1);
        assert!(dir.join("tokenizer.json").is_file() && dir.join("vocab.txt").is_file());

        let back = Classifier::from_dir(&dir, &opts).unwrap();
        let g = golden(repo.trim_start_matches("pipe-fixtures/"));
        let batch = golden_batch(&g);
        let logits = |m: &Classifier| tensor_flat(&m.forward(&batch, Mode::Eval, false).unwrap().logits);
        assert_eq!(logits(&back), logits(&model));

        // Saving is deterministic.
        model.save_safetensors(&out.path().join("again.safetensors")).unwrap();
        assert_eq!(
            std::fs::read(out.path().join("again.safetensors")).unwrap(),
            std::fs::read(dir.join("model.safetensors")).unwrap()
        );
    }
}

#[test]
fn sentence_transformer_gains_prefix_and_head() {
    let repo = "sentence-transformers/all-MiniLM-L6-v2";
    let opts = ModelOptions { pooling: Pooling::Mean, dropout: 0.1, num_layers: Some(3), ..ModelOptions::default() };
    let model = load(repo, &opts, 5);
    let out = tempfile::tempdir().unwrap();
    model.save_hf_dir(out.path(), &[]).unwrap();
    let saved = tensors(&out.path().join("model.safetensors"));
    let original = tensors(&snapshot(repo).join("model.safetensors"));
    let mut expected: Vec<String> = original
        .keys()
        .filter(|n| {
            *n != "embeddings.position_ids"
                && !["3", "4", "5"].iter().any(|l| n.starts_with(&format!("encoder.layer.{l}.")))
        })
        .map(|n| format!("bert.{n}"))
        .chain(["classifier.bias".to_string(), "classifier.weight".to_string()])
        .collect();
    expected.sort();
    assert_eq!(saved.keys().cloned().collect::<Vec<_>>(), expected);
    assert_eq!(saved["bert.pooler.dense.weight"], original["pooler.dense.weight"]);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["num_hidden_layers"], 3);
    assert_eq!(config["pipe_pooling"], "mean");

    // The saved head is used as is, and the pooling must match.
    let back = Classifier::from_dir(out.path(), &opts).unwrap();
    assert_eq!(back.config().layers, 3);
    let cls = ModelOptions { pooling: Pooling::Cls, ..opts };
    let err = Classifier::from_dir(out.path(), &cls).err().expect("pooling mismatch must fail").to_string();
    assert!(err.contains("pooling `mean`"), "{err}");
}

#[test]
fn from_dir_without_head_is_an_error() {
    let err = Classifier::from_dir(&snapshot("sentence-transformers/all-MiniLM-L6-v2"), &options(Pooling::Cls, 0.1))
        .err()
        .expect("a checkpoint without head must not load from a directory")
        .to_string();
    assert!(err.contains("classifier.bias") && err.contains("model.safetensors"), "{err}");
}

#[test]
fn missing_model_names_the_cache() {
    pipe_stages::testkit::use_offline_hub();
    let err = Classifier::from_hub("no-such-org/no-model", "main", &options(Pooling::Cls, 0.1), 0)
        .err()
        .expect("unknown model must fail")
        .to_string();
    assert!(err.contains("no-such-org/no-model") && err.contains("HF_HOME"), "{err}");
}
