//! The tiny random-init fixture (pipe-fixtures/tiny-bert in ../shared/hf) and the
//! upstream artifacts the visualize stage reads, for the viz and interrupt tests.

use std::path::{Path, PathBuf};

use pipe_stages::testkit::use_offline_hub;
use pipe_stages::Input;
use serde_json::{json, Value};

/// The fixture's snapshot directory: config.json, model.safetensors (with a head), tokenizer.json.
pub fn tiny_bert() -> PathBuf {
    use_offline_hub();
    let config = pipe_stages::data::hub::model_file("pipe-fixtures/tiny-bert", "main", "config.json")
        .expect("pipe-fixtures/tiny-bert in ../shared/hf");
    config.parent().unwrap().to_path_buf()
}

fn input(kind: &str, dir: &Path, params: Value) -> Input {
    Input {
        stage: kind.into(),
        kind: kind.into(),
        instance: kind.into(),
        matrix: Default::default(),
        params,
        dir: dir.to_path_buf(),
        metrics: json!({}),
    }
}

/// A train artifact holding the fixture as `model/`, and an evaluate artifact whose
/// predictions.csv has negation, contrast and misclassified rows.
pub fn upstream(root: &Path) -> Vec<Input> {
    let train = root.join("train");
    std::fs::create_dir_all(train.join("model")).unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(tiny_bert().join(file), train.join("model").join(file)).unwrap();
    }
    let evaluate = root.join("evaluate");
    std::fs::create_dir_all(&evaluate).unwrap();
    let rows = [
        (0, "it 's not a bad film .", 1, 1, 0.81),
        (1, "charming , but far too long and utterly , painfully slow to get going in its first hour .", 0, 1, 0.64),
        (2, "a gorgeous , witty , seductive movie .", 1, 0, 0.93),
        (3, "never boring .", 1, 1, 0.7),
        (4, "dull .", 0, 1, 0.55),
    ];
    let mut csv = String::from("idx,text,label,pred,p_negative,p_positive,confidence,correct\n");
    for (idx, text, label, pred, conf) in rows {
        let p_pos = if pred == 1 { conf } else { 1.0 - conf };
        csv += &format!("{idx},\"{text}\",{label},{pred},{},{p_pos},{conf},{}\n", 1.0 - p_pos, label == pred);
    }
    std::fs::write(evaluate.join("predictions.csv"), csv).unwrap();
    vec![input("train", &train, json!({"max_len": 128})), input("evaluate", &evaluate, json!({}))]
}
