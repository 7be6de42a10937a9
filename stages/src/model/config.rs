//! The encoder hyper-parameters read from a checkpoint's `config.json`, whatever
//! its `model_type` calls them (BERT: `hidden_size`, DistilBERT: `dim`, ...).

use std::path::Path;

use serde_json::Value;

use super::arch::{by_model_type, Architecture};
use super::error::ModelError;

/// Feed-forward activation named by `hidden_act` / `activation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `gelu`: the exact erf form.
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    Relu,
}

#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub arch: &'static Architecture,
    pub hidden: usize,
    /// Encoder layers in use (the checkpoint's count, or fewer with `num_layers`).
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub max_positions: usize,
    /// Token-type (segment) vocabulary; 0 for DistilBERT, which has none.
    pub type_vocab: usize,
    pub layer_norm_eps: f64,
    pub activation: Activation,
    pub pad_token_id: u32,
    /// The file as read, rewritten by `save_hf_dir`.
    pub raw: Value,
}

impl ModelConfig {
    pub fn read(path: &Path) -> Result<ModelConfig, ModelError> {
        let text = std::fs::read_to_string(path).map_err(ModelError::io(path))?;
        let raw: Value = serde_json::from_str(&text)
            .map_err(|e| ModelError::Checkpoint(format!("{}: not valid JSON: {e}", path.display())))?;
        Self::from_json(raw).map_err(|m| ModelError::Checkpoint(format!("{}: {m}", path.display())))
    }

    /// This config with `config.json` fields replaced (`pipe bench --config`):
    /// each value is read as JSON (`768`, `"relu"`), else taken as a string.
    pub fn with_fields(&self, fields: &[(String, String)]) -> Result<ModelConfig, ModelError> {
        let mut raw = self.raw.clone();
        let Some(map) = raw.as_object_mut() else {
            return Err(ModelError::Checkpoint("config.json is not an object".into()));
        };
        for (key, value) in fields {
            let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.clone()));
            map.insert(key.clone(), value);
        }
        Self::from_json(raw).map_err(|message| ModelError::Option { key: "config", message })
    }

    fn from_json(raw: Value) -> Result<ModelConfig, String> {
        let model_type = raw.get("model_type").and_then(Value::as_str).ok_or("no `model_type`")?;
        let config = (by_model_type(model_type)?.config)(&raw)?;
        if config.heads == 0 {
            return Err("0 attention heads: a model needs at least 1".into());
        }
        if config.hidden % config.heads != 0 {
            return Err(format!("hidden size {} is not a multiple of {} heads", config.hidden, config.heads));
        }
        Ok(ModelConfig { raw, ..config })
    }
}

/// The unsigned integer under `key`; the error names the key, and the value when there is one.
pub(super) fn int(raw: &Value, key: &str) -> Result<usize, String> {
    match raw.get(key) {
        None | Some(Value::Null) => Err(format!("missing integer `{key}`")),
        Some(v) => v.as_u64().map(|v| v as usize).ok_or_else(|| format!("`{key}` is not an integer >= 0: {v}")),
    }
}

/// The feed-forward activation named by `value` (gelu when absent).
pub(super) fn activation(value: Option<&Value>) -> Result<Activation, String> {
    match value.and_then(Value::as_str) {
        Some("gelu") | None => Ok(Activation::Gelu),
        Some("gelu_new") | Some("gelu_pytorch_tanh") => Ok(Activation::GeluTanh),
        Some("relu") => Ok(Activation::Relu),
        Some(other) => Err(format!("activation `{other}` is not supported (gelu, gelu_new, relu)")),
    }
}
