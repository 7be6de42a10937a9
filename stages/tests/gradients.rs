//! Every trainable parameter receives a gradient (a LayerNorm or softmax without
//! backward would silently stop it), and the step-1 gradient norms match PyTorch,
//! through `Gradients::of_batch`, the path training takes.

mod parity_util;

use candle_core::{Device, Tensor};
use parity_util::*;
use pipe_stages::model::{Classifier, Mode, ModelOptions, Pooling, Precision};
use pipe_stages::train::clip::global_norm;
use pipe_stages::train::gradients::{shards, Grad, Gradients};
use pipe_stages::train::loss::cross_entropy;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Checks every parameter's step-1 gradient as training computes it (the batch in
/// `shards` runs of rows); with dropout off and CLS pooling, its norm against
/// PyTorch's to `tol` (relative).
fn step1_gradients(name: &str, pooling: Pooling, dropout: f32, precision: Precision, tol: f64) {
    let g = golden(name);
    let model = load(g["model_id"].as_str().unwrap(), &ModelOptions { precision, ..options(pooling, dropout) }, 0);
    let rows = golden_rows(&g);
    let rows: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let labels: Vec<u32> = flat(&g["training"]["labels"]).iter().map(|&v| v as u32).collect();
    let vars = model.vars();
    let trainable: Vec<candle_core::Var> = vars.iter().map(|(_, v)| v.clone()).collect();
    let rng = ChaCha8Rng::seed_from_u64(3);
    one_shard_gives_backprops_gradients(&model, &g, &trainable, &rows, &labels, &rng);
    let shards = shards(model.config().hidden);
    assert_eq!(shards, 2, "{name}: the fixture should train in two shards, the path under test");
    let (_, grads) = Gradients::of_batch(&model, &trainable, &rows, &labels, 0.0, &mut rng.clone(), shards).unwrap();
    let expected = g["training"]["step1_gradients"]["grad_norm_per_parameter"].as_object().unwrap();
    assert_eq!(vars.len(), expected.len(), "parameter count");
    let mut worst_rel = 0f64;
    for (param, var) in &vars {
        let values = match grads.get(var) {
            Some(Grad::Sum(parts)) => parts
                .iter()
                .map(|t| tensor_flat(t))
                .reduce(|a, b| a.iter().zip(&b).map(|(a, b)| a + b).collect())
                .unwrap(),
            Some(Grad::Rows(rows)) => rows.values.clone(),
            None => panic!("{name}: `{param}` received no gradient"),
        };
        let norm = values.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
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

/// In one shard, the gradients are backprop's through the whole model, bit for bit:
/// the word-embedding table's rows are the rows of the table-sized gradient that the
/// lookup's backward writes, which is zero elsewhere, and the global norm reading
/// those rows has the bits of the one reading the whole table.
fn one_shard_gives_backprops_gradients(
    model: &Classifier,
    g: &serde_json::Value,
    trainable: &[candle_core::Var],
    rows: &[&[u32]],
    labels: &[u32],
    rng: &ChaCha8Rng,
) {
    let (_, sharded) = Gradients::of_batch(model, trainable, rows, labels, 0.0, &mut rng.clone(), 1).unwrap();
    // The generator the one shard drew its masks from (`Gradients::of_batch`).
    let mut shard_rng = ChaCha8Rng::from_seed(rng.clone().random());
    let batch = golden_batch(g);
    let targets = Tensor::new(labels, &Device::Cpu).unwrap();
    let logits = model.logits(&batch, Mode::Train { rng: &mut shard_rng }).unwrap();
    let store = cross_entropy(&logits, &targets, 0.0).unwrap().backward().unwrap();
    let words = model.word_embeddings().expect("a word-embedding table");
    let Some(Grad::Rows(table)) = sharded.get(&words) else { panic!("the word table's gradient is not kept as rows") };
    let dense = tensor_flat(store.get(words.as_tensor()).unwrap());
    let width = table.width;
    assert_eq!(width % 8, 0, "the rows' sum of squares needs rows a multiple of 8 wide");
    for (row, values) in dense.chunks_exact(width).enumerate() {
        let expected: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
        let got: Vec<u32> = match table.rows.binary_search(&(row as u32)) {
            Ok(i) => table.values[i * width..(i + 1) * width].iter().map(|v| v.to_bits()).collect(),
            Err(_) => vec![0f32.to_bits(); width],
        };
        assert_eq!(got, expected, "row {row} of the word-embedding gradient");
    }
    for var in trainable.iter().filter(|v| v.as_tensor().id() != words.as_tensor().id()) {
        let Some(Grad::Sum(parts)) = sharded.get(var) else { panic!("a parameter without a dense gradient") };
        let bits = |t: &Tensor| tensor_flat(t).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(parts.len(), 1, "one shard, one part");
        assert_eq!(bits(parts[0]), bits(store.get(var.as_tensor()).unwrap()), "a dense gradient");
    }
    let skipping = global_norm(&sharded, trainable).unwrap();
    let all = global_norm(&Gradients::dense(store), trainable).unwrap();
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
