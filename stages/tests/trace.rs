//! The 4-step training trace of the tiny fixtures against PyTorch (golden
//! `training`): AdamW with decay groups, linear warmup/decay, global-norm clip,
//! cross-entropy with and without label smoothing, the batch's gradients from
//! `Gradients::of_batch` as training takes them. Losses, learning rates,
//! gradient norms and the recorded final weights within 1e-4.

mod parity_util;

use std::collections::BTreeMap;

use candle_core::{Device, IndexOp, Tensor};
use parity_util::*;
use pipe_stages::model::{Mode, Pooling};
use pipe_stages::train::clip::{clip_scale, global_norm};
use pipe_stages::train::gradients::{shards, Gradients};
use pipe_stages::train::loss::cross_entropy;
use pipe_stages::train::optim::{decays, AdamW};
use pipe_stages::train::schedule::LinearSchedule;
use rand::SeedableRng;
use serde_json::Value;

struct Trace {
    loss: Vec<f32>,
    lr: Vec<f32>,
    grad_norm: Vec<f32>,
    loss_after: f32,
    vars: BTreeMap<String, Tensor>,
}

fn train(g: &Value, label_smoothing: f64, max_norm: f64) -> Trace {
    let model = load(g["model_id"].as_str().unwrap(), &options(Pooling::Cls, 0.0), 0);
    let batch = golden_batch(g);
    let rows = golden_rows(g);
    let rows: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let labels: Vec<u32> = flat(&g["training"]["labels"]).iter().map(|&v| v as u32).collect();
    let named = model.vars();
    let vars: Vec<_> = named.iter().map(|(_, v)| v.clone()).collect();
    let mut optim = AdamW::new(named.clone(), 0.01).unwrap();
    let schedule = LinearSchedule::new(1e-3, 1, 4);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut t = Trace { loss: vec![], lr: vec![], grad_norm: vec![], loss_after: 0.0, vars: BTreeMap::new() };
    for step in 0..4 {
        // The batch in shards, as training runs it.
        let (loss, grads) = Gradients::of_batch(
            &model,
            &vars,
            &rows,
            &labels,
            label_smoothing,
            &mut rng,
            shards(model.config().hidden),
        )
        .unwrap();
        let norm = global_norm(&grads, &vars).unwrap();
        let lr = schedule.lr(step);
        optim.step(&grads, lr, clip_scale(norm, max_norm)).unwrap();
        t.loss.push(loss as f32);
        t.lr.push(lr as f32);
        t.grad_norm.push(norm as f32);
    }
    let logits = model.forward(&batch, Mode::Eval, false).unwrap().logits;
    let labels = Tensor::new(labels.as_slice(), &Device::Cpu).unwrap();
    t.loss_after = cross_entropy(&logits, &labels, label_smoothing).unwrap().to_scalar::<f32>().unwrap();
    t.vars = named.into_iter().map(|(n, v)| (n, v.as_tensor().copy().unwrap())).collect();
    t
}

fn check(name: &str, variant: Option<&str>, label_smoothing: f64, max_norm: f64) {
    let g = golden(name);
    let training = &g["training"];
    let expected = variant.map_or(training, |v| &training[v]);
    let t = train(&g, label_smoothing, max_norm);
    let trace = &expected["trace"];
    assert_close("loss", &t.loss, &flat(&trace["loss"]), TOL);
    assert_close("lr", &t.lr, &flat(&trace["lr"]), 1e-9);
    assert_close("grad_norm_before_clip", &t.grad_norm, &flat(&trace["grad_norm_before_clip"]), TOL);
    assert_close(
        "loss_after_final_step",
        &[t.loss_after],
        &[expected["loss_after_final_step"].as_f64().unwrap() as f32],
        TOL,
    );
    let fin = &expected["final"];
    assert_close(
        "classifier.weight",
        &tensor_flat(&t.vars["classifier.weight"]),
        &flat(&fin["classifier.weight"]),
        TOL,
    );
    assert_close("classifier.bias", &tensor_flat(&t.vars["classifier.bias"]), &flat(&fin["classifier.bias"]), TOL);
    let prefix = if name == "tiny-bert" { "bert" } else { "distilbert" };
    let word = &t.vars[&format!("{prefix}.embeddings.word_embeddings.weight")];
    let row = tensor_flat(&word.i((2009, ..8)).unwrap());
    assert_close("word_embeddings[2009, :8]", &row, &flat(&fin["word_embeddings_row_2009_first8"]), TOL);
    let query = if name == "tiny-bert" {
        "bert.encoder.layer.0.attention.self.query.weight"
    } else {
        "distilbert.transformer.layer.0.attention.q_lin.weight"
    };
    let q = tensor_flat(&t.vars[query].i((0, ..8)).unwrap());
    assert_close("layer0 query[0, :8]", &q, &flat(&fin["layer0_query_weight_first8"]), TOL);
    if let Some(norms) = expected.get("final_parameter_l2_norms").and_then(Value::as_object) {
        assert_eq!(norms.len(), t.vars.len(), "parameter count");
        let mut worst = 0f64;
        for (param, norm) in norms {
            let ours = tensor_flat(&t.vars[param]).iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
            worst = worst.max((ours - norm.as_f64().unwrap()).abs());
        }
        // Tighter than 1e-4: decaying LayerNorm weights by mistake moves these by 1.1e-4.
        assert!(worst < 1e-5, "final parameter L2 norms: max abs diff {worst:e}");
        eprintln!("final parameter L2 norms: max abs diff {worst:e}");
    }
}

#[test]
fn tiny_bert_trace() {
    check("tiny-bert", None, 0.0, 1.0);
}

#[test]
fn tiny_distilbert_trace() {
    check("tiny-distilbert", None, 0.0, 1.0);
}

#[test]
fn tiny_bert_trace_label_smoothing() {
    check("tiny-bert", Some("label_smoothing_0.1"), 0.1, 1.0);
}

#[test]
fn tiny_distilbert_trace_label_smoothing() {
    check("tiny-distilbert", Some("label_smoothing_0.1"), 0.1, 1.0);
}

#[test]
fn tiny_bert_trace_clip_0_1() {
    check("tiny-bert", Some("clip_max_norm_0.1"), 0.0, 0.1);
}

#[test]
fn tiny_distilbert_trace_clip_0_1() {
    check("tiny-distilbert", Some("clip_max_norm_0.1"), 0.0, 0.1);
}

/// The optimizer's decay groups are transformers' (same 24 no-decay names).
#[test]
fn decay_groups_match_the_trainer() {
    for name in ["tiny-bert", "tiny-distilbert"] {
        let g = golden(name);
        let model = load(g["model_id"].as_str().unwrap(), &options(Pooling::Cls, 0.0), 0);
        let ours: Vec<String> = model.vars().into_iter().map(|(n, _)| n).filter(|n| !decays(n)).collect();
        let mut golden: Vec<String> = g["training"]["no_decay_parameter_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        golden.sort();
        assert_eq!(ours, golden, "{name}");
    }
}

#[test]
fn schedule_matches_transformers() {
    let s = LinearSchedule::new(2e-5, LinearSchedule::warmup_steps(1000, 0.06), 1000);
    assert_eq!(LinearSchedule::warmup_steps(1000, 0.06), 60);
    assert_eq!(LinearSchedule::warmup_steps(1001, 0.06), 61);
    assert_eq!(s.lr(0), 0.0);
    assert!((s.lr(30) - 1e-5).abs() < 1e-18);
    assert_eq!(s.lr(60), 2e-5);
    assert!((s.lr(530) - 1e-5).abs() < 1e-18);
    assert_eq!(s.lr(1000), 0.0);
    assert_eq!(s.lr(2000), 0.0);
}

/// Every other test of this file again at each other SIMD level the CPU has:
/// golden training trace holds at every level.
#[test]
fn every_test_here_holds_at_every_simd_level() {
    pipe_stages::testkit::levels::rerun_at_other_levels("trace", "every_test_here_holds_at_every_simd_level");
}
