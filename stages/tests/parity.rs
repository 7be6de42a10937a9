//! Forward parity with PyTorch + transformers (../shared/hf/golden): logits,
//! hidden states and attention probabilities within 1e-4.

mod parity_util;

use candle_core::{IndexOp, Tensor};
use parity_util::*;
use pipe_stages::model::{mean_pool, Mode, ModelOptions, Pooling};

fn tiny_forward(name: &str) {
    let g = golden(name);
    let model = load(g["model_id"].as_str().unwrap(), &options(Pooling::Cls, 0.1), 0);
    let batch = golden_batch(&g);
    let out = model.forward(&batch, Mode::Eval, true).unwrap();
    let f = &g["forward_eval"];
    assert_close("logits", &tensor_flat(&out.logits), &flat(&f["logits"]), TOL);
    let last = out.hidden_states.last().unwrap();
    assert_close("last_hidden_state", &tensor_flat(last), &flat(&f["last_hidden_state"]), TOL);
    let hidden: Vec<f32> = out.hidden_states.iter().flat_map(tensor_flat).collect();
    assert_close("hidden_states", &hidden, &flat(&f["hidden_states"]), TOL);
    let attentions: Vec<f32> = out.attentions.iter().flat_map(tensor_flat).collect();
    assert_close("attentions", &attentions, &flat(&f["attentions"]), TOL);
    let mean = mean_pool(last, &batch.attention_mask).unwrap();
    assert_close("mean_pooled", &tensor_flat(&mean), &flat(&f["mean_pooled_last_hidden_state"]), TOL);

    // Probabilities on padded keys are exactly 0, every row sums to 1.
    let mask = batch.attention_mask.to_vec2::<f32>().unwrap();
    for probs in &out.attentions {
        let (_, h, _, _) = probs.dims4().unwrap();
        for (bi, keys) in mask.iter().enumerate() {
            for hi in 0..h {
                let rows = probs.i((bi, hi)).unwrap().to_vec2::<f32>().unwrap();
                for row in &rows {
                    for (k, &m) in keys.iter().enumerate() {
                        if m == 0.0 {
                            assert_eq!(row[k], 0.0, "probability on a padded key");
                        }
                    }
                    assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                }
            }
        }
    }
}

#[test]
fn tiny_bert_forward_matches_golden() {
    tiny_forward("tiny-bert");
}

#[test]
fn tiny_distilbert_forward_matches_golden() {
    tiny_forward("tiny-distilbert");
}

/// The sentence-transformers goldens record slices: [:, :3, :5] of each hidden
/// state and head 0's [:6, :6] attention block.
fn sentence_transformer(file: &str) {
    let g = golden(file);
    let repo = g["model_id"].as_str().unwrap();
    let model = load(repo, &options(Pooling::Cls, 0.1), 0);
    let batch = golden_batch(&g);
    let out = model.forward(&batch, Mode::Eval, true).unwrap();
    let corner = |t: &Tensor| tensor_flat(&t.i((.., ..3, ..5)).unwrap());
    let last = out.hidden_states.last().unwrap();
    assert_close("last_hidden_state[:, :3, :5]", &corner(last), &flat(&g["last_hidden_state[:, :3, :5]"]), TOL);
    let hidden: Vec<f32> = out.hidden_states.iter().flat_map(corner).collect();
    assert_close("hidden_states", &hidden, &flat(&g["hidden_states[:, :, :3, :5]"]["values"]), TOL);
    let attn: Vec<f32> = out.attentions.iter().flat_map(|a| tensor_flat(&a.i((.., 0, ..6, ..6)).unwrap())).collect();
    assert_close("attentions head 0", &attn, &flat(&g["attentions_head0[:, 0, :6, :6]"]["values"]), TOL);
    for (i, cls) in g["cls_last_hidden_state"].as_array().unwrap().iter().enumerate() {
        let ours = tensor_flat(&last.i((i, 0)).unwrap());
        assert_close("cls_last_hidden_state", &ours, &flat(&cls["values"]), TOL);
    }
    let mean = mean_pool(last, &batch.attention_mask).unwrap().i((.., ..16)).unwrap();
    assert_close("mean pooled", &tensor_flat(&mean), &flat(&g["mean_pooled_last_hidden_state_first16"]), TOL);
    if let Some(pooler) = g.get("pooler_output_first16") {
        // The checkpoint's pooler (stored without the `bert.` prefix) is the head's dense layer.
        let vars: std::collections::BTreeMap<_, _> = model.vars().into_iter().collect();
        let w = vars["bert.pooler.dense.weight"].as_tensor();
        let b = vars["bert.pooler.dense.bias"].as_tensor();
        let cls = last.i((.., 0)).unwrap();
        let out = cls.matmul(&w.t().unwrap()).unwrap().broadcast_add(b).unwrap().tanh().unwrap();
        assert_close("pooler_output", &tensor_flat(&out.i((.., ..16)).unwrap()), &flat(pooler), TOL);
    }
}

#[test]
fn all_minilm_l6_forward_matches_golden() {
    sentence_transformer("sentence-transformers--all-MiniLM-L6-v2");
}

#[test]
fn paraphrase_minilm_l3_forward_matches_golden() {
    sentence_transformer("sentence-transformers--paraphrase-MiniLM-L3-v2");
}

#[test]
fn num_layers_keeps_the_first_layers() {
    let g = golden("tiny-bert");
    let opts = ModelOptions { pooling: Pooling::Cls, dropout: 0.1, num_layers: Some(1), ..ModelOptions::default() };
    let model = load("pipe-fixtures/tiny-bert", &opts, 0);
    assert_eq!(model.config().layers, 1);
    let out = model.forward(&golden_batch(&g), Mode::Eval, false).unwrap();
    assert_eq!(out.hidden_states.len(), 2);
    let golden_layer1 = &g["forward_eval"]["hidden_states"][1];
    assert_close("layer 1 output", &tensor_flat(&out.hidden_states[1]), &flat(golden_layer1), TOL);
    assert!(!model.vars().iter().any(|(n, _)| n.contains("layer.1.")));
}

#[test]
fn forward_is_deterministic_and_dropout_follows_the_seed() {
    use rand::SeedableRng;
    let g = golden("tiny-distilbert");
    let model = load("pipe-fixtures/tiny-distilbert", &options(Pooling::Mean, 0.1), 0);
    let batch = golden_batch(&g);
    let eval = |m: Mode| tensor_flat(&model.forward(&batch, m, false).unwrap().logits);
    assert_eq!(eval(Mode::Eval), eval(Mode::Eval));
    let train = |seed: u64| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        eval(Mode::Train { rng: &mut rng })
    };
    assert_eq!(train(1), train(1));
    assert_ne!(train(1), train(2));
    assert_ne!(train(1), eval(Mode::Eval));
}

#[test]
fn missing_head_is_drawn_from_the_seed() {
    // paraphrase-MiniLM-L3-v2 has neither pooler nor classifier.
    let opts = options(Pooling::Cls, 0.1);
    let head = |seed| {
        let model = load("sentence-transformers/paraphrase-MiniLM-L3-v2", &opts, seed);
        let vars: std::collections::BTreeMap<_, _> = model.vars().into_iter().collect();
        let w = tensor_flat(vars["classifier.weight"].as_tensor());
        let pooler = tensor_flat(vars["bert.pooler.dense.weight"].as_tensor());
        assert!(tensor_flat(vars["classifier.bias"].as_tensor()).iter().all(|&b| b == 0.0));
        (w, pooler)
    };
    let (w1, p1) = head(7);
    assert_eq!((w1.clone(), p1.clone()), head(7));
    assert_ne!(w1, head(8).0);
    let std = (w1.iter().map(|v| v * v).sum::<f32>() / w1.len() as f32).sqrt();
    assert!((0.012..0.028).contains(&std), "classifier init std {std}");
    let std = (p1.iter().map(|v| v * v).sum::<f32>() / p1.len() as f32).sqrt();
    assert!((0.019..0.021).contains(&std), "pooler init std {std}");
}

/// `Classifier::logits` (the real tokens only, and the last layer past attention
/// on the first token alone with [CLS] pooling) gives the bits of the padded
/// forward pass, for each precision and with int8 weights, on batches with a lot
/// of padding and without any (in eval mode without a backprop graph); in train
/// mode with the same dropout masks, leaving the generator where the forward pass
/// leaves it, and with gradients within rounding of the forward pass's.
#[test]
fn lean_logits_are_the_bits_of_the_padded_forward_pass() {
    use candle_core::Tensor;
    use pipe_stages::model::{Batch, Precision, Quantize};
    use pipe_stages::train::loss::cross_entropy;
    use rand::{Rng, SeedableRng};
    let row = |i: u32, len: usize| -> Vec<u32> {
        (0..len as u32).map(|j| if j == 0 { 101 } else { 1000 + (i * 131 + j * 17) % 20000 }).collect()
    };
    let ragged: Vec<Vec<u32>> = (0..37u32).map(|i| row(i, 2 + (i * 7 % 23) as usize)).collect();
    // Enough rows that the last layer's products on [CLS] rows take gemm's general
    // path, as the padded ones do (below 9 rows of 32 columns it has a
    // small-matrix kernel, and for one row a matrix-vector one: other last bits).
    let even: Vec<Vec<u32>> = (0..12u32).map(|i| row(i, 9)).collect();
    let bits = |t: &Tensor| tensor_flat(t).iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for (precision, quantize) in
        [(Precision::Fp32, Quantize::None), (Precision::Bf16, Quantize::None), (Precision::Fp32, Quantize::Int8)]
    {
        for (repo, pooling) in
            [("sentence-transformers/all-MiniLM-L6-v2", Pooling::Mean), ("pipe-fixtures/tiny-distilbert", Pooling::Cls)]
        {
            let opts = ModelOptions { precision, quantize, ..options(pooling, 0.1) };
            let model = load(repo, &opts, 0);
            for rows in [&ragged, &even] {
                let rows: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
                let batch = Batch::pad(&rows, model.device()).unwrap();
                let what = format!("{repo} at {precision:?} {quantize:?}, {} rows", rows.len());
                let padded = model.forward(&batch, Mode::Eval, false).unwrap().logits;
                let lean = model.logits(&batch, Mode::Eval).unwrap();
                assert_eq!(bits(&lean), bits(&padded), "{what}");
                assert!(!lean.track_op(), "{what}: eval-mode logits carry no backprop graph");
                if quantize == Quantize::Int8 {
                    continue;
                }
                let (mut a, mut b) =
                    (rand_chacha::ChaCha8Rng::seed_from_u64(5), rand_chacha::ChaCha8Rng::seed_from_u64(5));
                let padded = model.forward(&batch, Mode::Train { rng: &mut a }, false).unwrap().logits;
                let lean = model.logits(&batch, Mode::Train { rng: &mut b }).unwrap();
                assert_eq!(bits(&lean), bits(&padded), "{what}, train mode");
                assert_eq!(a.random::<u64>(), b.random::<u64>(), "{what}: the generator moved as far");
                let labels = Tensor::new(&vec![1u32; rows.len()][..], model.device()).unwrap();
                let grads = |logits: &Tensor| cross_entropy(logits, &labels, 0.0).unwrap().backward().unwrap();
                let (gp, gl) = (grads(&padded), grads(&lean));
                for (name, var) in model.vars() {
                    let (p, l) = (gp.get(var.as_tensor()), gl.get(var.as_tensor()));
                    let (p, l) = (
                        tensor_flat(p.unwrap()),
                        tensor_flat(l.unwrap_or_else(|| panic!("{what}: no gradient for {name}"))),
                    );
                    let scale = p.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
                    let worst = p.iter().zip(&l).fold(0f32, |m, (p, l)| m.max((p - l).abs()));
                    assert!(worst <= 1e-5 * scale, "{what}: {name} gradient off by {worst:e} of {scale:e}");
                }
            }
        }
    }
}

#[test]
fn batch_pads_right_and_rejects_empty_rows() {
    let device = candle_core::Device::Cpu;
    let batch = pipe_stages::model::Batch::pad(&[&[101, 7, 102], &[101, 102]], &device).unwrap();
    assert_eq!(batch.input_ids.to_vec2::<u32>().unwrap(), vec![vec![101, 7, 102], vec![101, 102, 0]]);
    assert_eq!(batch.attention_mask.to_vec2::<f32>().unwrap(), vec![vec![1.0, 1.0, 1.0], vec![1.0, 1.0, 0.0]]);
    let err = pipe_stages::model::Batch::pad(&[&[101, 102], &[]], &device).err().expect("empty row").to_string();
    assert!(err.contains("row 1"), "{err}");
    assert!(pipe_stages::model::Batch::pad(&[], &device).is_err());
}

/// Every other test of this file again at each other SIMD level the CPU has:
/// golden forward parity holds at every level.
#[test]
fn every_test_here_holds_at_every_simd_level() {
    pipe_stages::testkit::levels::rerun_at_other_levels("parity", "every_test_here_holds_at_every_simd_level");
}
