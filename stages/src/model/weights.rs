//! The model's parameters as candle Vars under their original HF names, loaded
//! from a safetensors checkpoint. Encoder tensors may be stored with or without
//! the `bert.`/`distilbert.` prefix; extra tensors (`embeddings.position_ids`,
//! layers beyond `num_layers`, MLM heads) are ignored. A missing head is drawn
//! from the seeded RNG like transformers does: weights N(0, 0.02), biases 0.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand_distr::{Distribution, Normal};

use super::config::ModelConfig;
use super::linear::Linear;
use super::precision::Precision;
use crate::StageError;

/// Labels of the sequence classifier (negative, positive).
pub const NUM_LABELS: usize = 2;

pub struct Params {
    vars: BTreeMap<String, Var>,
}

impl Params {
    /// Every parameter of `config`'s classifier from `path`; a missing head is
    /// initialised from `head_seed`, or is an error when there is none.
    pub fn load(path: &Path, config: &ModelConfig, head_seed: Option<u64>) -> Result<Params, StageError> {
        let device = Device::Cpu;
        let stored = candle_core::safetensors::load(path, &device)
            .map_err(|e| StageError::Input(format!("{}: cannot read safetensors: {e}", path.display())))?;
        let mut by_name: HashMap<String, Tensor> =
            stored.into_iter().map(|(name, t)| (config.model_type.canonical(&name), t)).collect();
        let mut vars = BTreeMap::new();
        let mut missing_head = Vec::new();
        for (name, shape, is_head) in expected(config) {
            match by_name.remove(&name) {
                Some(t) if t.dims() == shape.as_slice() => {
                    vars.insert(name, Var::from_tensor(&t.to_dtype(DType::F32)?)?);
                }
                Some(t) => {
                    return Err(StageError::Input(format!(
                        "{}: tensor `{name}` has shape {:?}, expected {shape:?}",
                        path.display(),
                        t.dims()
                    )))
                }
                None if is_head => missing_head.push((name, shape)),
                None => return Err(StageError::Input(format!("{}: tensor `{name}` is missing", path.display()))),
            }
        }
        if !missing_head.is_empty() {
            let seed = head_seed.ok_or_else(|| {
                let names: Vec<&str> = missing_head.iter().map(|(n, _)| n.as_str()).collect();
                StageError::Input(format!("{}: classifier head tensors missing: {}", path.display(), names.join(", ")))
            })?;
            vars.extend(draw(missing_head, seed, "classifier-head-init")?);
        }
        Ok(Params { vars })
    }

    /// Every parameter drawn at random (`pipe bench --config`: a resized model
    /// for timing, whose checkpoint no longer fits).
    pub fn random(config: &ModelConfig, seed: u64) -> Result<Params, StageError> {
        let all = expected(config).into_iter().map(|(name, shape, _)| (name, shape)).collect();
        Ok(Params { vars: draw(all, seed, "random-init")?.into_iter().collect() })
    }

    pub fn tensor(&self, name: &str) -> Result<Tensor, StageError> {
        self.vars
            .get(name)
            .map(|v| v.as_tensor().clone())
            .ok_or_else(|| StageError::Failed(format!("no parameter `{name}`")))
    }

    pub fn linear(&self, module: &str, precision: Precision) -> Result<Linear, StageError> {
        Ok(Linear {
            weight: self.tensor(&format!("{module}.weight"))?,
            bias: self.tensor(&format!("{module}.bias"))?,
            precision,
        })
    }

    /// (weight, bias) of a LayerNorm module.
    pub fn norm(&self, module: &str) -> Result<(Tensor, Tensor), StageError> {
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
fn draw(tensors: Vec<(String, Vec<usize>)>, seed: u64, stream: &str) -> Result<Vec<(String, Var)>, StageError> {
    let mut rng = crate::rng::derive(seed, stream);
    let normal = Normal::new(0f32, 0.02).map_err(|e| StageError::Failed(e.to_string()))?;
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
    let (h, t) = (c.hidden, c.model_type);
    let mut out = Vec::new();
    let mut embedding = |name: String, rows: usize| out.push((format!("{name}.weight"), vec![rows, h], false));
    embedding(t.word_embeddings(), c.vocab);
    embedding(t.position_embeddings(), c.max_positions);
    if let Some(name) = t.token_type_embeddings() {
        embedding(name, c.type_vocab);
    }
    let mut layer = |name: &str, shape: Vec<usize>, is_head: bool| {
        out.push((format!("{name}.bias"), vec![shape[0]], is_head));
        out.push((format!("{name}.weight"), shape, is_head));
    };
    layer(&t.embeddings_norm(), vec![h], false);
    for i in 0..c.layers {
        let l = t.layer(i);
        for name in [&l.query, &l.key, &l.value, &l.attention_out] {
            layer(name, vec![h, h], false);
        }
        layer(&l.attention_norm, vec![h], false);
        layer(&l.ffn_in, vec![c.intermediate, h], false);
        layer(&l.ffn_out, vec![h, c.intermediate], false);
        layer(&l.output_norm, vec![h], false);
    }
    layer(t.pre_classifier(), vec![h, h], true);
    layer(t.classifier(), vec![NUM_LABELS, h], true);
    out
}
