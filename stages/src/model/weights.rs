//! The model's parameters as candle Vars under their original HF names, loaded
//! from a safetensors checkpoint. Encoder tensors may be stored with or without
//! the `bert.`/`distilbert.` prefix; extra tensors (`embeddings.position_ids`,
//! layers beyond `num_layers`, MLM heads) are ignored. A missing head is drawn
//! from the seeded RNG like transformers does: weights N(0, 0.02), biases 0.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use rand_distr::{Distribution, Normal};

use super::arch::CLASSIFIER;
use super::config::ModelConfig;
use super::error::ModelError;
use super::linear::Linear;
use super::options::ModelOptions;
use super::quantize::Quantize;
use crate::kernels::int8::Int8Linear;

/// Labels of the sequence classifier (negative, positive).
pub const NUM_LABELS: usize = 2;

pub struct Weights {
    vars: BTreeMap<String, Var>,
}

impl Weights {
    /// Every parameter of `config`'s classifier from `path`; a missing head is
    /// initialised from `head_seed`, or is an error when there is none.
    pub fn load(path: &Path, config: &ModelConfig, head_seed: Option<u64>) -> Result<Weights, ModelError> {
        let device = Device::Cpu;
        let stored = candle_core::safetensors::load(path, &device)
            .map_err(|e| ModelError::Checkpoint(format!("{}: cannot read safetensors: {e}", path.display())))?;
        let mut by_name: HashMap<String, Tensor> =
            stored.into_iter().map(|(name, t)| (config.arch.canonical(&name), t)).collect();
        let mut vars = BTreeMap::new();
        let mut missing_head = Vec::new();
        for (name, shape, is_head) in expected(config) {
            match by_name.remove(&name) {
                Some(t) if t.dims() == shape.as_slice() => {
                    vars.insert(name, Var::from_tensor(&t.to_dtype(DType::F32)?)?);
                }
                Some(t) => {
                    return Err(ModelError::Checkpoint(format!(
                        "{}: tensor `{name}` has shape {:?}, expected {shape:?}",
                        path.display(),
                        t.dims()
                    )))
                }
                None if is_head => missing_head.push((name, shape)),
                None => return Err(ModelError::Checkpoint(format!("{}: tensor `{name}` is missing", path.display()))),
            }
        }
        if !missing_head.is_empty() {
            let seed = head_seed.ok_or_else(|| {
                let names: Vec<&str> = missing_head.iter().map(|(n, _)| n.as_str()).collect();
                ModelError::Checkpoint(format!(
                    "{}: classifier head tensors missing: {}",
                    path.display(),
                    names.join(", ")
                ))
            })?;
            vars.extend(draw(missing_head, seed, "classifier-head-init")?);
        }
        Ok(Weights { vars })
    }

    /// Every parameter drawn at random (`pipe bench --config`: a resized model
    /// for timing, whose checkpoint no longer fits).
    pub fn random(config: &ModelConfig, seed: u64) -> Result<Weights, ModelError> {
        let all = expected(config).into_iter().map(|(name, shape, _)| (name, shape)).collect();
        Ok(Weights { vars: draw(all, seed, "random-init")?.into_iter().collect() })
    }

    pub fn tensor(&self, name: &str) -> candle_core::Result<Tensor> {
        match self.vars.get(name) {
            Some(v) => Ok(v.as_tensor().clone()),
            None => candle_core::bail!("no parameter `{name}`"),
        }
    }

    /// A dense layer, with its weight quantized where `opts` asks for it.
    pub fn linear(&self, module: &str, opts: &ModelOptions) -> candle_core::Result<Linear> {
        let weight = self.tensor(&format!("{module}.weight"))?;
        let bias = self.tensor(&format!("{module}.bias"))?;
        let int8 = match opts.quantize {
            Quantize::None => None,
            Quantize::Int8 => Some(Arc::new(Int8Linear::from_tensors(&weight, &bias)?)),
        };
        Ok(Linear { weight, bias, precision: opts.precision, int8 })
    }

    /// (weight, bias) of a LayerNorm module.
    pub fn norm(&self, module: &str) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((self.tensor(&format!("{module}.weight"))?, self.tensor(&format!("{module}.bias"))?))
    }

    /// All parameters, sorted by name.
    pub fn vars(&self) -> &BTreeMap<String, Var> {
        &self.vars
    }
}

/// Initial values as transformers draws them: weights N(0, 0.02), biases 0,
/// LayerNorm weights (the 1-D ones) 1. `tensors` come in a fixed order (from
/// `expected`), so the draws are reproducible.
fn draw(tensors: Vec<(String, Vec<usize>)>, seed: u64, stream: &str) -> candle_core::Result<Vec<(String, Var)>> {
    let mut rng = crate::rng::derive(seed, stream);
    let normal = Normal::new(0f32, 0.02).expect("0.02 is a valid standard deviation");
    tensors
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = if name.ends_with(".bias") {
                vec![0.0; n]
            } else if shape.len() == 1 {
                vec![1.0; n]
            } else {
                (0..n).map(|_| normal.sample(&mut rng)).collect()
            };
            Ok((name, Var::from_tensor(&Tensor::from_vec(values, shape, &Device::Cpu)?)?))
        })
        .collect()
}

/// (name, shape, belongs to the head) of every parameter, encoder first.
fn expected(c: &ModelConfig) -> Vec<(String, Vec<usize>, bool)> {
    let (h, t) = (c.hidden, c.arch);
    let e = t.embeddings();
    let mut out = Vec::new();
    let mut embedding = |name: &str, rows: usize| out.push((format!("{name}.weight"), vec![rows, h], false));
    embedding(&e.word, c.vocab);
    embedding(&e.position, c.max_positions);
    if let Some(name) = &e.token_type {
        embedding(name, c.type_vocab);
    }
    let mut layer = |name: &str, shape: Vec<usize>, is_head: bool| {
        out.push((format!("{name}.bias"), vec![shape[0]], is_head));
        out.push((format!("{name}.weight"), shape, is_head));
    };
    layer(&e.norm, vec![h], false);
    for i in 0..c.layers {
        let l = (t.layer)(i);
        for name in [&l.query, &l.key, &l.value, &l.attention_out] {
            layer(name, vec![h, h], false);
        }
        layer(&l.attention_norm, vec![h], false);
        layer(&l.ffn_in, vec![c.intermediate, h], false);
        layer(&l.ffn_out, vec![h, c.intermediate], false);
        layer(&l.output_norm, vec![h], false);
    }
    layer(t.pre_classifier, vec![h, h], true);
    layer(CLASSIFIER, vec![NUM_LABELS, h], true);
    out
}
