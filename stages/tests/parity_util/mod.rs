//! Shared by the parity, trace and gradient tests: the golden files of
//! ../shared/hf/golden and float comparisons.
#![allow(dead_code)] // each test crate uses a different subset

use candle_core::{Device, Tensor};
use pipe_stages::model::{Batch, Classifier, ModelOptions, Pooling};
use serde_json::Value;

pub const TOL: f32 = 1e-4;

pub fn golden(name: &str) -> Value {
    pipe_stages::testkit::use_offline_hub();
    let path = pipe_stages::testkit::shared_dir().join("hf/golden").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Every number of a nested JSON list, row-major, as f32.
pub fn flat(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not a number: {other}"),
    }
}

pub fn tensor_flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

pub fn max_abs_diff(ours: &[f32], golden: &[f32]) -> f32 {
    assert_eq!(ours.len(), golden.len(), "length differs");
    ours.iter().zip(golden).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

pub fn assert_close(what: &str, ours: &[f32], golden: &[f32], tol: f32) {
    let diff = max_abs_diff(ours, golden);
    assert!(diff <= tol, "{what}: max abs diff {diff:e} > {tol:e}");
    eprintln!("{what}: max abs diff {diff:e}");
}

/// The golden batch (input_ids and attention_mask, right-padded).
/// The golden batch's rows of token ids, without padding.
pub fn golden_rows(g: &Value) -> Vec<Vec<u32>> {
    g["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .zip(g["attention_mask"].as_array().unwrap())
        .map(|(ids, mask)| {
            let real = mask.as_array().unwrap().iter().filter(|m| m.as_u64() == Some(1)).count();
            ids.as_array().unwrap()[..real].iter().map(|v| v.as_u64().unwrap() as u32).collect()
        })
        .collect()
}

pub fn golden_batch(g: &Value) -> Batch {
    let rows = golden_rows(g);
    let refs: Vec<&[u32]> = rows.iter().map(|r| r.as_slice()).collect();
    let batch = Batch::pad(&refs, &Device::Cpu).unwrap();
    let ids: Vec<u32> = flat(&g["input_ids"]).iter().map(|&v| v as u32).collect();
    assert_eq!(
        batch.input_ids.flatten_all().unwrap().to_vec1::<u32>().unwrap(),
        ids,
        "Batch::pad differs from golden ids"
    );
    batch
}

pub fn options(pooling: Pooling, dropout: f32) -> ModelOptions {
    ModelOptions { pooling, dropout, ..ModelOptions::default() }
}

pub fn load(repo: &str, opts: &ModelOptions, seed: u64) -> Classifier {
    pipe_stages::testkit::use_offline_hub();
    Classifier::from_hub(repo, "main", opts, seed).unwrap()
}
