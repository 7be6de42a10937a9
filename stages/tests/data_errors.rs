//! Bad inputs to the data stages: each error names what is wrong and where, and
//! neither the stage's output directory nor the hub cache gets a single file.
//!
//! This process points HF_HOME at an empty cache and HF_ENDPOINT at a closed
//! local port, so every hub lookup misses the cache and cannot reach the hub.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pipe_stages::data::examples::{write_jsonl, Example};
use pipe_stages::testkit::{run_stage, Ran};
use pipe_stages::StageError;
use serde_json::{json, Value};

fn empty_hub() -> &'static Path {
    static HUB: OnceLock<tempfile::TempDir> = OnceLock::new();
    HUB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        // Every test sets the same values, so concurrent tests cannot disagree.
        std::env::set_var("HF_HOME", dir.path());
        std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");
        std::env::remove_var("HF_HUB_OFFLINE");
        dir
    })
    .path()
}

fn file_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).map(|p| if p.is_dir() { file_count(&p) } else { 1 }).sum())
        .unwrap_or(0)
}

/// Runs the stage, expects it to fail, checks nothing was written, returns the message.
fn fails(kind: &str, with: Value, inputs: Vec<pipe_stages::Input>, out: &Path) -> String {
    let hub = empty_hub();
    let err: StageError = match run_stage(kind, with, inputs, out, 42) {
        Ok(_) => panic!("{kind} should have failed"),
        Err(e) => e,
    };
    assert_eq!(file_count(out), 0, "{kind} wrote into its output dir before failing: {err}");
    assert_eq!(file_count(hub), 0, "{kind} wrote into the hub cache: {err}");
    err.to_string()
}

fn source_dir(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (name, text) in files {
        std::fs::write(data.join(name), text).unwrap();
    }
    (tmp, data)
}

const VALIDATION: (&str, &str) = ("validation.tsv", "sentence\tlabel\nfine \t1\n");

fn download_local(data: &Path, out: &Path) -> String {
    fails("download", json!({"source": data.to_str().unwrap()}), vec![], out)
}

#[test]
fn dataset_not_cached_and_hub_unreachable() {
    let hub = empty_hub();
    let tmp = tempfile::tempdir().unwrap();
    let err =
        fails("download", json!({"dataset": "stanfordnlp/sst2", "revision": "main"}), vec![], &tmp.path().join("out"));
    let cache = hub.join("hub/datasets--stanfordnlp--sst2");
    for part in ["dataset `stanfordnlp/sst2`", "revision `main`", &cache.display().to_string()] {
        assert!(err.contains(part), "`{part}` not in: {err}");
    }
    assert!(err.contains("point HF_HOME at a pre-seeded cache (e.g. HF_HOME=../shared/hf)"), "{err}");

    let registry = pipe_stages::Registry::builtin();
    let download = registry.get("download").unwrap();
    let params = download.resolve(&json!({"dataset": "stanfordnlp/sst2"})).unwrap();
    let err = download.fingerprint(&params, tmp.path()).unwrap_err().to_string();
    assert!(err.contains("stanfordnlp/sst2") && err.contains("point HF_HOME"), "{err}");
    assert_eq!(file_count(hub), 0);
}

#[test]
fn model_not_cached_and_hub_unreachable() {
    let hub = empty_hub();
    let tmp = tempfile::tempdir().unwrap();
    let split = tmp.path().join("split");
    std::fs::create_dir_all(&split).unwrap();
    let rows = [Example { idx: 0, source: "validation".into(), text: "fine".into(), label: Some(1) }];
    for name in ["train", "dev", "test", "unlabelled"] {
        write_jsonl(&split.join(format!("{name}.jsonl")), &rows).unwrap();
    }
    let input = Ran { dir: split, metrics: Default::default(), params: json!({}) }.as_input("split");
    let with = json!({"model": "sentence-transformers/all-MiniLM-L6-v2", "revision": "main"});
    let err = fails("tokenize", with, vec![input], &tmp.path().join("out"));
    let cache = hub.join("hub/models--sentence-transformers--all-MiniLM-L6-v2");
    for part in ["model `sentence-transformers/all-MiniLM-L6-v2`", "revision `main`", "file `tokenizer.json`"] {
        assert!(err.contains(part), "`{part}` not in: {err}");
    }
    assert!(err.contains(&cache.display().to_string()) && err.contains("point HF_HOME at a pre-seeded cache"), "{err}");

    let err = pipe_stages::data::hub::model_file("pipe-fixtures/tiny-bert", "main", "config.json").unwrap_err();
    assert!(err.to_string().contains("model `pipe-fixtures/tiny-bert` (revision `main`): file `config.json`"), "{err}");
    assert_eq!(file_count(hub), 0);
}

#[test]
fn missing_column_lists_the_columns_found() {
    let (tmp, data) = source_dir(&[("train.tsv", "text\tlabel\ngood \t1\n"), VALIDATION]);
    let err = download_local(&data, &tmp.path().join("out"));
    assert!(err.contains("train.tsv: no text column `sentence` (columns found: text, label)"), "{err}");

    let (tmp, data) = source_dir(&[("train.tsv", "sentence\tpolarity\ngood \t1\n"), VALIDATION]);
    let err = download_local(&data, &tmp.path().join("out"));
    assert!(err.contains("train.tsv: no label column `label` (columns found: sentence, polarity)"), "{err}");
}

#[test]
fn labels_outside_0_1_or_not_integers_name_file_and_row() {
    let (tmp, data) = source_dir(&[("train.tsv", "sentence\tlabel\ngood \t1\nbad \t2\n"), VALIDATION]);
    let err = download_local(&data, &tmp.path().join("out"));
    assert!(err.contains("train.tsv: row 2: label 2 is outside {0, 1}"), "{err}");

    let (tmp, data) = source_dir(&[("train.jsonl", "{\"sentence\": \"good\", \"label\": \"pos\"}\n"), VALIDATION]);
    let err = download_local(&data, &tmp.path().join("out"));
    assert!(err.contains("train.jsonl: row 1: label \"pos\" is not an integer"), "{err}");
}

#[test]
fn empty_splits_are_errors() {
    let (tmp, data) =
        source_dir(&[("train.tsv", "sentence\tlabel\ngood \t1\n"), ("validation.tsv", "sentence\tlabel\n")]);
    let err = download_local(&data, &tmp.path().join("out"));
    assert!(err.contains("empty split `validation`") && err.contains("validation.tsv has no data rows"), "{err}");

    let (tmp, data) = source_dir(&[("train.tsv", "sentence\tlabel\ngood \t1\n")]);
    let err = download_local(&data, &tmp.path().join("out"));
    assert!(err.contains("empty split `validation`: no validation file"), "{err}");

    // One row per label: 10% of each rounds to nothing, so dev would be empty.
    let (tmp, data) = source_dir(&[("train.tsv", "sentence\tlabel\ngood \t1\nbad \t0\n"), VALIDATION]);
    let download = run_stage("download", json!({"source": data.to_str().unwrap()}), vec![], &tmp.path().join("d"), 42)
        .unwrap_or_else(|e| panic!("{e}"));
    let err = fails("split", json!({}), vec![download.as_input("download")], &tmp.path().join("out"));
    assert!(err.contains("empty split `dev`"), "{err}");
}

#[test]
fn unreadable_files_are_named() {
    let (tmp, data) = source_dir(&[("train.parquet", "this is not parquet"), VALIDATION]);
    let err = download_local(&data, &tmp.path().join("out"));
    assert!(err.contains("train.parquet: unreadable:"), "{err}");

    let (tmp, data) = source_dir(&[("train.tsv", "sentence\tlabel\ngood \t1\textra\n"), VALIDATION]);
    let err = download_local(&data, &tmp.path().join("out"));
    assert!(err.contains("train.tsv: unreadable: row 1:"), "{err}");

    let (tmp, data) = source_dir(&[("training.tsv", "sentence\tlabel\ngood \t1\n"), ("notes.tsv", "x\n")]);
    let err = download_local(&data, &tmp.path().join("out"));
    assert!(err.contains("notes.tsv`: cannot tell which split it holds"), "{err}");

    // A parquet codec this build does not decode is named before any page is read.
    let (tmp, data) = source_dir(&[VALIDATION]);
    let path = data.join("train.parquet");
    write_snappy_parquet(&path);
    assert_eq!(pipe_stages::data::table::read(&path).unwrap().rows.len(), 2, "the unpatched file reads");
    let mut bytes = std::fs::read(&path).unwrap();
    set_codec_to_zstd(&mut bytes, b"sentence");
    std::fs::write(&path, bytes).unwrap();
    let err = download_local(&data, &tmp.path().join("out"));
    assert!(err.contains("train.parquet: unreadable: column `sentence` is compressed with ZSTD"), "{err}");
}

fn write_snappy_parquet(path: &Path) {
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::{properties::WriterProperties, writer::SerializedFileWriter};
    let schema = "message schema { REQUIRED BYTE_ARRAY sentence (UTF8); REQUIRED INT64 label; }";
    let schema = std::sync::Arc::new(parquet::schema::parser::parse_message_type(schema).unwrap());
    let props = std::sync::Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
    let mut writer = SerializedFileWriter::new(std::fs::File::create(path).unwrap(), schema, props).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut sentences = group.next_column().unwrap().unwrap();
    let texts: Vec<ByteArray> = ["good ", "bad "].iter().map(|t| ByteArray::from(*t)).collect();
    sentences.typed::<ByteArrayType>().write_batch(&texts, None, None).unwrap();
    sentences.close().unwrap();
    let mut labels = group.next_column().unwrap().unwrap();
    labels.typed::<Int64Type>().write_batch(&[1, 0], None, None).unwrap();
    labels.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
}

/// Rewrites the column's codec in the thrift footer: ColumnMetaData's path_in_schema
/// (a one-string list: 0x18, length, name) is followed by field 4, codec (0x15), whose
/// zigzag value 1 (0x02, SNAPPY) becomes 6 (0x0c, ZSTD).
fn set_codec_to_zstd(bytes: &mut [u8], column: &[u8]) {
    let needle = [&[0x18, column.len() as u8][..], column, &[0x15, 0x02]].concat();
    let at = bytes.windows(needle.len()).rposition(|w| w == needle).expect("codec field of the column in the footer");
    bytes[at + needle.len() - 1] = 0x0c;
}

#[test]
fn bad_params_are_config_errors_naming_the_key() {
    let registry = pipe_stages::Registry::builtin();
    for (kind, with, key, part) in [
        ("download", json!({}), "dataset", "needs `dataset: <hub id>`"),
        ("download", json!({"dataset": "stanfordnlp/sst2", "source": "data"}), "source", "not both"),
        ("download", json!({"dataset": "stanfordnlp/sst2", "text_col": "x"}), "text_col", "unknown field"),
        ("split", json!({"train_dev_split": 1.0}), "train_dev_split", "between 0 and 1"),
        ("tokenize", json!({"max_len": 1}), "max_len", "at least 2"),
    ] {
        let err = registry.get(kind).unwrap().resolve(&with).unwrap_err();
        assert!(err.is_config(), "{kind} {with}: {err}");
        assert!(matches!(&err, StageError::Param { key: k, .. } if k == key), "{kind} {with}: {err}");
        assert!(err.to_string().contains(part), "{kind} {with}: {err}");
    }
}
