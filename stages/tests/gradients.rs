//! Every trainable parameter receives a gradient (a LayerNorm or softmax without
//! backward would silently stop it), and the step-1 gradient norms match PyTorch,
//! through `Classifier::logits` in train mode, the path training takes.

mod parity_util;

use candle_core::{Device, Tensor};
use parity_util::*;
use pipe_stages::model::{Mode, ModelOptions, Pooling, Precision};
use pipe_stages::train::clip::{global_norm, NonzeroRows};
use pipe_stages::train::loss::cross_entropy;
use rand::SeedableRng;

/// Checks every parameter's step-1 gradient; with dropout off and CLS pooling,
/// its norm against PyTorch's to `tol` (relative).
fn step1_gradients(name: &str, pooling: Pooling, dropout: f32, precision: Precision, tol: f64) {
    let g = golden(name);
    let model = load(g["model_id"].as_str().unwrap(), &ModelOptions { precision, ..options(pooling, dropout) }, 0);
    let batch = golden_batch(&g);
    let labels: Vec<u32> = flat(&g["training"]["labels"]).iter().map(|&v| v as u32).collect();
    let labels = Tensor::new(labels.as_slice(), &Device::Cpu).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let logits = model.logits(&batch, Mode::Train { rng: &mut rng }).unwrap();
    let grads = cross_entropy(&logits, &labels, 0.0).unwrap().backward().unwrap();
    let expected = g["training"]["step1_gradients"]["grad_norm_per_parameter"].as_object().unwrap();
    let vars = model.vars();
    word_embedding_rows_outside_the_batch_add_nothing(&model, &batch, &grads, &vars);
    assert_eq!(vars.len(), expected.len(), "parameter count");
    let mut worst_rel = 0f64;
    for (param, var) in &vars {
        let grad = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name}: `{param}` received no gradient"));
        let norm = tensor_flat(grad).iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
        assert!(norm > 0.0, "{name}: `{param}` has an all-zero gradient");
        if pooling == Pooling::Cls && dropout == 0.0 {
            let golden = expected[param].as_f64().unwrap();
            // Key biases get ~1e-13 (softmax is shift-invariant): pure rounding, compare absolutely.
            let rel = (norm - golden).abs() / golden.max(1e-6);
            assert!(rel < tol, "{name}: `{param}` gradient norm {norm:e} vs golden {golden:e}");
            worst_rel = worst_rel.max(rel);
        }
    }
    eprintln!(
        "{name} {pooling:?} dropout {dropout} {}: worst relative gradient-norm diff {worst_rel:e}",
        precision.name()
    );
}

/// The word-embedding gradient is zero outside the batch's token ids, so the global norm
/// that reads only those rows (as training does) has the bits of the one that reads all.
fn word_embedding_rows_outside_the_batch_add_nothing(
    model: &pipe_stages::model::Classifier,
    batch: &pipe_stages::model::Batch,
    grads: &candle_core::backprop::GradStore,
    vars: &[(String, candle_core::Var)],
) {
    let ids = batch.distinct_ids().unwrap();
    let words = model.word_embeddings().expect("a word-embedding table");
    let (rows, width) = words.dims2().unwrap();
    assert_eq!(width % 8, 0, "the row-skipping sum needs rows a multiple of 8 wide");
    let grad = tensor_flat(grads.get(words.as_tensor()).unwrap());
    for (row, values) in grad.chunks_exact(width).enumerate() {
        let in_batch = ids.binary_search(&(row as u32)).is_ok();
        assert!(in_batch || values.iter().all(|&v| v == 0.0), "row {row} of {rows}: a gradient outside the batch");
    }
    let trainable: Vec<candle_core::Var> = vars.iter().map(|(_, v)| v.clone()).collect();
    let all = global_norm(grads, &trainable, None).unwrap();
    let skipping = global_norm(grads, &trainable, Some(&NonzeroRows { var: &words, rows: &ids })).unwrap();
    assert_eq!(skipping.to_bits(), all.to_bits(), "global norm {skipping:e} reading the batch's rows vs {all:e}");
}

#[test]
fn tiny_bert_every_parameter_gets_the_golden_gradient() {
    step1_gradients("tiny-bert", Pooling::Cls, 0.0, Precision::Fp32, 1e-3);
}

#[test]
fn tiny_distilbert_every_parameter_gets_the_golden_gradient() {
    step1_gradients("tiny-distilbert", Pooling::Cls, 0.0, Precision::Fp32, 1e-3);
}

#[test]
fn gradients_reach_every_parameter_with_mean_pooling_and_dropout() {
    step1_gradients("tiny-bert", Pooling::Mean, 0.1, Precision::Fp32, 1e-3);
    step1_gradients("tiny-bert", Pooling::Cls, 0.1, Precision::Fp32, 1e-3);
    step1_gradients("tiny-distilbert", Pooling::Mean, 0.1, Precision::Fp32, 1e-3);
}

/// bf16 products (AMX tiles where the CPU has them) keep every gradient and
/// stay near PyTorch's fp32 ones: operands lose 8 mantissa bits, sums stay f32.
#[test]
fn bf16_products_give_every_parameter_a_gradient_near_the_golden_one() {
    step1_gradients("tiny-bert", Pooling::Cls, 0.0, Precision::Bf16, 2e-2);
    step1_gradients("tiny-distilbert", Pooling::Cls, 0.0, Precision::Bf16, 2e-2);
    step1_gradients("tiny-bert", Pooling::Mean, 0.1, Precision::Bf16, 2e-2);
}

/// Integrated gradients differentiate the logits w.r.t. the word embeddings.
#[test]
fn forward_embeds_is_differentiable_and_matches_forward() {
    let g = golden("tiny-bert");
    let model = load("pipe-fixtures/tiny-bert", &options(Pooling::Cls, 0.1), 0);
    let batch = golden_batch(&g);
    let words = model.embed_words(&batch.input_ids).unwrap();
    let input = candle_core::Var::from_tensor(&words).unwrap();
    let logits = model.forward_embeds(input.as_tensor(), &batch.attention_mask).unwrap();
    let direct = model.forward(&batch, Mode::Eval, false).unwrap().logits;
    assert_eq!(tensor_flat(&logits), tensor_flat(&direct));
    let grads = logits.narrow(1, 1, 1).unwrap().sum_all().unwrap().backward().unwrap();
    let grad = grads.get(input.as_tensor()).expect("no gradient w.r.t. the word embeddings");
    assert_eq!(grad.dims(), words.dims());
    assert!(tensor_flat(grad).iter().any(|&v| v != 0.0));
}

/// Every other test of this file again at each other SIMD level the CPU has:
/// golden gradient holds at every level.
#[test]
fn every_test_here_holds_at_every_simd_level() {
    pipe_stages::testkit::levels::rerun_at_other_levels("gradients", "every_test_here_holds_at_every_simd_level");
}
