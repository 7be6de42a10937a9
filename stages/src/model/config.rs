//! The encoder hyper-parameters read from a checkpoint's `config.json`, whatever
//! its `model_type` calls them (BERT: `hidden_size`, DistilBERT: `dim`, ...).

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::StageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    Bert,
    DistilBert,
}

/// Feed-forward activation named by `hidden_act` / `activation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `gelu`: the exact erf form.
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    Relu,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    pub model_type: ModelType,
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
    #[serde(skip)]
    pub raw: Value,
}

impl ModelConfig {
    pub fn read(path: &Path) -> Result<ModelConfig, StageError> {
        let text = std::fs::read_to_string(path).map_err(StageError::io(path))?;
        let raw: Value = serde_json::from_str(&text)
            .map_err(|e| StageError::Input(format!("{}: not valid JSON: {e}", path.display())))?;
        Self::from_json(raw).map_err(|m| StageError::Input(format!("{}: {m}", path.display())))
    }

    /// This config with `config.json` fields replaced (`pipe bench --config`):
    /// each value is read as JSON (`768`, `"relu"`), else taken as a string.
    pub fn with_fields(&self, fields: &[(String, String)]) -> Result<ModelConfig, StageError> {
        let mut raw = self.raw.clone();
        let Some(map) = raw.as_object_mut() else { return Err(StageError::Input("config.json is not an object".into())) };
        for (key, value) in fields {
            let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.clone()));
            map.insert(key.clone(), value);
        }
        Self::from_json(raw).map_err(|m| StageError::param("config", m))
    }

    fn from_json(raw: Value) -> Result<ModelConfig, String> {
        let model_type = match raw.get("model_type").and_then(Value::as_str) {
            Some("bert") => ModelType::Bert,
            Some("distilbert") => ModelType::DistilBert,
            Some(other) => return Err(format!("model_type `{other}` is not supported (bert, distilbert)")),
            None => return Err("no `model_type`".into()),
        };
        let int = |key: &str| -> Result<usize, String> {
            raw.get(key).and_then(Value::as_u64).map(|v| v as usize).ok_or_else(|| format!("missing integer `{key}`"))
        };
        let pad_token_id = raw.get("pad_token_id").and_then(Value::as_u64).unwrap_or(0) as u32;
        let config = match model_type {
            ModelType::Bert => ModelConfig {
                model_type,
                hidden: int("hidden_size")?,
                layers: int("num_hidden_layers")?,
                heads: int("num_attention_heads")?,
                intermediate: int("intermediate_size")?,
                vocab: int("vocab_size")?,
                max_positions: int("max_position_embeddings")?,
                type_vocab: int("type_vocab_size")?,
                layer_norm_eps: raw.get("layer_norm_eps").and_then(Value::as_f64).unwrap_or(1e-12),
                activation: activation(raw.get("hidden_act"))?,
                pad_token_id,
                raw: Value::Null,
            },
            ModelType::DistilBert => ModelConfig {
                model_type,
                hidden: int("dim")?,
                layers: int("n_layers")?,
                heads: int("n_heads")?,
                intermediate: int("hidden_dim")?,
                vocab: int("vocab_size")?,
                max_positions: int("max_position_embeddings")?,
                type_vocab: 0,
                // Fixed in the transformers DistilBERT code, not read from the config.
                layer_norm_eps: 1e-12,
                activation: activation(raw.get("activation"))?,
                pad_token_id,
                raw: Value::Null,
            },
        };
        if config.heads == 0 || config.hidden % config.heads != 0 {
            return Err(format!("hidden size {} is not a multiple of {} heads", config.hidden, config.heads));
        }
        Ok(ModelConfig { raw, ..config })
    }

    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// The config key holding the layer count, rewritten when layers are dropped.
    pub fn layers_key(&self) -> &'static str {
        match self.model_type {
            ModelType::Bert => "num_hidden_layers",
            ModelType::DistilBert => "n_layers",
        }
    }
}

fn activation(value: Option<&Value>) -> Result<Activation, String> {
    match value.and_then(Value::as_str) {
        Some("gelu") | None => Ok(Activation::Gelu),
        Some("gelu_new") | Some("gelu_pytorch_tanh") => Ok(Activation::GeluTanh),
        Some("relu") => Ok(Activation::Relu),
        Some(other) => Err(format!("activation `{other}` is not supported (gelu, gelu_new, relu)")),
    }
}
