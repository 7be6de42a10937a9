//! What sets one encoder architecture apart from another, one file each: the
//! keys of its `config.json`, its tensor names, its pooler, its dropout sites
//! and its position offset. The layers themselves (embeddings, encoder layer,
//! head) are written once and ask the architecture. Adding one: README.md.

mod bert;
mod distilbert;

use serde_json::Value;

use super::config::ModelConfig;

/// Every supported architecture; `model_type` in `config.json` picks one.
const ARCHITECTURES: [&Architecture; 2] = [&bert::BERT, &distilbert::DISTILBERT];

#[derive(Debug)]
pub struct Architecture {
    /// `model_type` in `config.json`.
    pub model_type: &'static str,
    /// The transformers class a saved model directory names in `architectures`.
    pub class_name: &'static str,
    /// The hyper-parameters from `config.json`, under this architecture's keys
    /// (`raw` is left for the caller to fill in); the error names the key.
    pub config: fn(&Value) -> Result<ModelConfig, String>,
    /// The `config.json` key of the layer count, rewritten when layers are dropped.
    pub layers_key: &'static str,
    /// The encoder's prefix inside a sequence-classification checkpoint.
    pub prefix: &'static str,
    /// Whether the embeddings add a token-type (segment) table.
    pub token_types: bool,
    /// Encoder layer `i`'s module names.
    pub layer: fn(usize) -> LayerNames,
    /// The dense layer between pooling and classifier.
    pub pre_classifier: &'static str,
    /// The activation after `pre_classifier`.
    pub pooler_activation: PoolerActivation,
    /// Whether the attention block's output passes through dropout before its
    /// residual (the other dropout sites are common to every architecture).
    pub attention_output_dropout: bool,
    /// The position id of the first token (RoBERTa-style models start past the padding id).
    pub position_offset: usize,
}

impl Architecture {
    /// The embedding modules' names (append `.weight` / `.bias`), in transformers'
    /// BERT-family layout under `prefix`.
    pub fn embeddings(&self) -> EmbeddingNames {
        let e = format!("{}.embeddings", self.prefix);
        EmbeddingNames {
            word: format!("{e}.word_embeddings"),
            position: format!("{e}.position_embeddings"),
            token_type: self.token_types.then(|| format!("{e}.token_type_embeddings")),
            norm: format!("{e}.LayerNorm"),
        }
    }

    /// The name a checkpoint tensor has in our naming: encoder tensors saved without
    /// the prefix (a bare `BertModel`, e.g. sentence-transformers) gain it.
    pub fn canonical(&self, stored: &str) -> String {
        let in_head = |module: &str| stored.strip_prefix(module).is_some_and(|rest| rest.starts_with('.'));
        if in_head(self.pre_classifier) || in_head(CLASSIFIER) || in_head(self.prefix) {
            stored.to_string()
        } else {
            format!("{}.{stored}", self.prefix)
        }
    }
}

/// The architecture `config.json`'s `model_type` names.
pub fn by_model_type(model_type: &str) -> Result<&'static Architecture, String> {
    ARCHITECTURES.iter().copied().find(|a| a.model_type == model_type).ok_or_else(|| {
        let known: Vec<&str> = ARCHITECTURES.iter().map(|a| a.model_type).collect();
        format!("model_type `{model_type}` is not supported ({})", known.join(", "))
    })
}

/// The classifier's module name, the same in every architecture.
pub const CLASSIFIER: &str = "classifier";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolerActivation {
    Tanh,
    Relu,
}

/// Names of the embedding modules.
pub struct EmbeddingNames {
    pub word: String,
    pub position: String,
    /// None where the architecture has no token types.
    pub token_type: Option<String>,
    pub norm: String,
}

/// Names of one encoder layer's modules.
pub struct LayerNames {
    pub query: String,
    pub key: String,
    pub value: String,
    pub attention_out: String,
    pub attention_norm: String,
    pub ffn_in: String,
    pub ffn_out: String,
    pub output_norm: String,
}
