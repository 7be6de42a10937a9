//! The data stages on the offline SST-2 copy in ../shared: GLUE split sizes,
//! stratification, determinism, TSV vs parquet equality and golden token ids.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use pipe_stages::data::examples::{read_jsonl, write_jsonl, Example};
use pipe_stages::data::tokens::TokenizedSplit;
use pipe_stages::testkit::{run_stage, shared_dir, use_offline_hub, Ran};
use serde_json::{json, Value};

const SEED: u64 = 42;

fn run(kind: &str, with: Value, inputs: &[(&str, &Ran)], out: &Path) -> Ran {
    let inputs = inputs.iter().map(|(k, r)| r.as_input(k)).collect();
    run_stage(kind, with, inputs, out, SEED).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// download -> split into `root`/{download,split}.
fn download_split(download: Value, root: &Path) -> (Ran, Ran) {
    let d = run("download", download, &[], &root.join("download"));
    let s = run("split", json!({}), &[("download", &d)], &root.join("split"));
    (d, s)
}

fn metric(ran: &Ran, key: &str) -> f64 {
    ran.metrics.get(key).and_then(Value::as_f64).unwrap_or_else(|| panic!("metric {key} missing: {:?}", ran.metrics))
}

/// Every file of an artifact directory, by relative path.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
    }
    out
}

#[test]
fn hub_sst2_gives_glue_splits_stratified_and_deterministic() {
    use_offline_hub();
    let tmp = tempfile::tempdir().unwrap();
    let dataset = json!({"dataset": "stanfordnlp/sst2"});
    let (d, s) = download_split(dataset.clone(), &tmp.path().join("a"));
    assert_eq!(
        (metric(&d, "train_rows"), metric(&d, "validation_rows"), metric(&d, "test_rows")),
        (67_349.0, 872.0, 1_821.0)
    );
    let rows = |k: &str| metric(&s, &format!("{k}_rows"));
    assert_eq!((rows("train"), rows("dev"), rows("test"), rows("unlabelled")), (61_060.0, 6_289.0, 872.0, 1_821.0));
    assert_eq!((metric(&s, "sentences"), metric(&s, "dev_sentences")), (6_885.0, 689.0));
    assert_eq!((metric(&s, "test_label_0"), metric(&s, "test_label_1")), (428.0, 444.0));
    assert_eq!(metric(&s, "overlap"), 0.0);

    // Recomputed from the files, not taken from the stage's own metrics.
    let split: BTreeMap<&str, Vec<Example>> = ["train", "dev", "test", "unlabelled"]
        .into_iter()
        .map(|k| (k, read_jsonl(&s.dir.join(format!("{k}.jsonl"))).unwrap()))
        .collect();
    let positive = |k: &str| split[k].iter().filter(|e| e.label == Some(1)).count() as f64 / split[k].len() as f64;
    let gap_pp = 100.0 * (positive("dev") - positive("train")).abs();
    assert!(gap_pp < 2.0, "dev positive share differs from train's by {gap_pp} pp");
    // No dev row lies word for word inside a train row: every run of words of every train row.
    let mut inside_train = HashSet::new();
    for e in &split["train"] {
        let words: Vec<&str> = e.text.split_whitespace().collect();
        for first in 0..words.len() {
            for last in first + 1..=words.len() {
                inside_train.insert(words[first..last].join(" "));
            }
        }
    }
    let leaked: Vec<&str> = split["dev"]
        .iter()
        .map(|e| e.text.as_str())
        .filter(|t| inside_train.contains(&t.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    assert!(
        leaked.is_empty(),
        "{} dev rows lie inside train rows, e.g. {:?}",
        leaked.len(),
        &leaked[..3.min(leaked.len())]
    );
    let keys = |k: &str| split[k].iter().map(|e| (e.source.clone(), e.idx)).collect::<HashSet<_>>();
    let (train, dev, test) = (keys("train"), keys("dev"), keys("test"));
    assert_eq!(train.len() + dev.len(), 67_349, "no sentence lost or repeated");
    assert!(train.is_disjoint(&dev) && train.is_disjoint(&test) && dev.is_disjoint(&test));
    assert!(split["test"].iter().all(|e| e.source == "validation"));
    assert!(split["unlabelled"].iter().all(|e| e.label.is_none() && e.source == "test"));
    assert_eq!(split["test"][0].text, "it 's a charming and often affecting journey . ");

    // A second run elsewhere: every output byte identical, tokenized splits included.
    let (d2, s2) = download_split(dataset, &tmp.path().join("b"));
    let model = json!({"model": "sentence-transformers/all-MiniLM-L6-v2"});
    let t = run("tokenize", model.clone(), &[("split", &s)], &tmp.path().join("a/tokenize"));
    let t2 = run("tokenize", model, &[("split", &s2)], &tmp.path().join("b/tokenize"));
    for (a, b) in [(&d, &d2), (&s, &s2), (&t, &t2)] {
        assert_eq!(files(&a.dir), files(&b.dir), "{} differs from {}", a.dir.display(), b.dir.display());
        assert_eq!(a.metrics, b.metrics);
    }
    let test_ids = TokenizedSplit::read(&t.dir.join("test.safetensors")).unwrap();
    assert_eq!(test_ids.len(), 872);
    assert_eq!(test_ids.labels.iter().filter(|&&l| l == 1).count(), 444);
    assert_eq!(metric(&t, "unlabelled_truncated") + metric(&t, "test_truncated"), 0.0, "SST-2 fits in 128 tokens");
}

#[test]
fn local_tsv_and_parquet_sources_give_the_same_splits_as_the_hub() {
    use_offline_hub();
    let tmp = tempfile::tempdir().unwrap();
    let (_, hub) = download_split(json!({"dataset": "stanfordnlp/sst2"}), &tmp.path().join("hub"));
    let tsv = shared_dir().join("data/sst2");
    let parquet =
        shared_dir().join("hf/hub/datasets--stanfordnlp--sst2/snapshots/e24a7e7fd95d79a4d830fb0608e50047cd87c34b/data");
    for (name, dir) in [("tsv", tsv), ("parquet", parquet)] {
        let (_, local) = download_split(json!({"source": dir.to_str().unwrap()}), &tmp.path().join(name));
        assert_eq!(files(&local.dir), files(&hub.dir), "{name}");
        assert_eq!(local.metrics, hub.metrics, "{name}");
    }
}

#[test]
fn fingerprints_name_the_hub_commit_or_the_local_file_hashes() {
    use_offline_hub();
    let registry = pipe_stages::Registry::builtin();
    let download = registry.get("download").unwrap();
    let here = Path::new(".");
    let params = download.resolve(&json!({"dataset": "stanfordnlp/sst2"})).unwrap();
    assert_eq!(
        download.fingerprint(&params, here).unwrap(),
        json!({"commit": "e24a7e7fd95d79a4d830fb0608e50047cd87c34b"})
    );

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("train.tsv");
    std::fs::write(&file, "sentence\tlabel\ngood \t1\n").unwrap();
    let params = download.resolve(&json!({"source": "train.tsv"})).unwrap();
    let before = download.fingerprint(&params, tmp.path()).unwrap();
    std::fs::write(&file, "sentence\tlabel\ngood \t0\n").unwrap();
    assert_ne!(download.fingerprint(&params, tmp.path()).unwrap(), before);

    let tokenize = registry.get("tokenize").unwrap();
    let params = tokenize.resolve(&json!({"model": "pipe-fixtures/tiny-bert"})).unwrap();
    let fp = tokenize.fingerprint(&params, here).unwrap();
    assert_eq!(fp["commit"], "17504487b505b6f996b44dd4a501f69544d8615f");
    assert_eq!(fp["tokenizer_blake3"].as_str().map(str::len), Some(64));
}

/// A split artifact holding `sentences` (labelled 1) in every split.
fn split_of(sentences: &[String], dir: &Path) -> Ran {
    std::fs::create_dir_all(dir).unwrap();
    let rows: Vec<Example> = sentences
        .iter()
        .enumerate()
        .map(|(i, t)| Example { idx: i as u64, source: "validation".into(), text: t.clone(), label: Some(1) })
        .collect();
    for split in ["train", "dev", "test", "unlabelled"] {
        write_jsonl(&dir.join(format!("{split}.jsonl")), &rows).unwrap();
    }
    Ran { dir: dir.to_path_buf(), metrics: Default::default(), params: json!({}) }
}

#[test]
fn token_ids_equal_the_pytorch_golden_input_ids() {
    use_offline_hub();
    let tmp = tempfile::tempdir().unwrap();
    for (model, file) in [
        ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers--all-MiniLM-L6-v2.json"),
        ("sentence-transformers/paraphrase-MiniLM-L3-v2", "sentence-transformers--paraphrase-MiniLM-L3-v2.json"),
        ("pipe-fixtures/tiny-bert", "tiny-bert.json"),
    ] {
        let path = shared_dir().join("hf/golden").join(file);
        let golden: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let sentences: Vec<String> = serde_json::from_value(golden["sentences"].clone()).unwrap();
        let ids: Vec<Vec<u32>> = serde_json::from_value(golden["input_ids"].clone()).unwrap();
        let mask: Vec<Vec<u32>> = serde_json::from_value(golden["attention_mask"].clone()).unwrap();
        let expected: Vec<Vec<u32>> = ids
            .iter()
            .zip(&mask)
            .map(|(i, m)| i.iter().zip(m).filter(|(_, &m)| m == 1).map(|(&i, _)| i).collect())
            .collect();

        let out = tmp.path().join(model.replace('/', "--"));
        let split = split_of(&sentences, &out.join("split"));
        let t = run("tokenize", json!({"model": model}), &[("split", &split)], &out.join("tokenize"));
        let got = TokenizedSplit::read(&t.dir.join("test.safetensors")).unwrap();
        assert_eq!(got.ids, expected, "{model}");

        // Cut to 8 tokens: the first 7 ids, then [SEP].
        let t = run("tokenize", json!({"model": model, "max_len": 8}), &[("split", &split)], &out.join("short"));
        let got = TokenizedSplit::read(&t.dir.join("dev.safetensors")).unwrap();
        for (row, full) in got.ids.iter().zip(&expected) {
            let want: Vec<u32> = if full.len() > 8 { [&full[..7], &[102]].concat() } else { full.clone() };
            assert_eq!(row, &want, "{model}");
        }
        let longer = expected.iter().filter(|e| e.len() > 8).count() as f64;
        assert_eq!(metric(&t, "dev_truncated"), longer);
        assert_eq!(metric(&t, "dev_len_max"), expected.iter().map(Vec::len).max().unwrap() as f64);
        let copy = std::fs::read_to_string(t.dir.join("tokenizer.json")).unwrap();
        let copy: Value = serde_json::from_str(&copy).unwrap();
        assert!(copy["padding"].is_null() && copy["truncation"].is_null());
    }
}
