//! DistilBERT (`model_type: distilbert`), as transformers'
//! `DistilBertForSequenceClassification` stores it: the encoder under
//! `distilbert.`, no token types, a `pre_classifier` (dense + ReLU) on the first
//! token; no dropout on the attention output (`out_lin`).

use serde_json::Value;

use super::{Architecture, LayerNames, PoolerActivation};
use crate::model::config::{activation, int, ModelConfig};

pub static DISTILBERT: Architecture = Architecture {
    model_type: "distilbert",
    class_name: "DistilBertForSequenceClassification",
    config,
    layers_key: "n_layers",
    prefix: "distilbert",
    token_types: false,
    layer,
    pre_classifier: "pre_classifier",
    pooler_activation: PoolerActivation::Relu,
    attention_output_dropout: false,
    position_offset: 0,
};

fn config(raw: &Value) -> Result<ModelConfig, String> {
    Ok(ModelConfig {
        arch: &DISTILBERT,
        hidden: int(raw, "dim")?,
        layers: int(raw, DISTILBERT.layers_key)?,
        heads: int(raw, "n_heads")?,
        intermediate: int(raw, "hidden_dim")?,
        vocab: int(raw, "vocab_size")?,
        max_positions: int(raw, "max_position_embeddings")?,
        type_vocab: 0,
        // Fixed in the transformers DistilBERT code, not read from the config.
        layer_norm_eps: 1e-12,
        activation: activation(raw.get("activation"))?,
        pad_token_id: int(raw, "pad_token_id").unwrap_or(0) as u32,
        raw: Value::Null,
    })
}

fn layer(i: usize) -> LayerNames {
    let l = format!("distilbert.transformer.layer.{i}");
    LayerNames {
        query: format!("{l}.attention.q_lin"),
        key: format!("{l}.attention.k_lin"),
        value: format!("{l}.attention.v_lin"),
        attention_out: format!("{l}.attention.out_lin"),
        attention_norm: format!("{l}.sa_layer_norm"),
        ffn_in: format!("{l}.ffn.lin1"),
        ffn_out: format!("{l}.ffn.lin2"),
        output_norm: format!("{l}.output_layer_norm"),
    }
}
