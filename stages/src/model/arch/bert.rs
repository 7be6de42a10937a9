//! BERT (`model_type: bert`), as transformers' `BertForSequenceClassification`
//! stores it: the encoder under `bert.`, a pooler (dense + tanh) on the first
//! token, the classifier at the top level; dropout also on the attention output
//! (`BertSelfOutput.dropout`).

use serde_json::Value;

use super::{Architecture, LayerNames, PoolerActivation};
use crate::model::config::{activation, int, ModelConfig};

pub static BERT: Architecture = Architecture {
    model_type: "bert",
    class_name: "BertForSequenceClassification",
    config,
    layers_key: "num_hidden_layers",
    prefix: "bert",
    token_types: true,
    layer,
    pre_classifier: "bert.pooler.dense",
    pooler_activation: PoolerActivation::Tanh,
    attention_output_dropout: true,
    position_offset: 0,
};

fn config(raw: &Value) -> Result<ModelConfig, String> {
    Ok(ModelConfig {
        arch: &BERT,
        hidden: int(raw, "hidden_size")?,
        layers: int(raw, BERT.layers_key)?,
        heads: int(raw, "num_attention_heads")?,
        intermediate: int(raw, "intermediate_size")?,
        vocab: int(raw, "vocab_size")?,
        max_positions: int(raw, "max_position_embeddings")?,
        type_vocab: int(raw, "type_vocab_size")?,
        layer_norm_eps: raw.get("layer_norm_eps").and_then(Value::as_f64).unwrap_or(1e-12),
        activation: activation(raw.get("hidden_act"))?,
        pad_token_id: int(raw, "pad_token_id").unwrap_or(0) as u32,
        raw: Value::Null,
    })
}

fn layer(i: usize) -> LayerNames {
    let l = format!("bert.encoder.layer.{i}");
    LayerNames {
        query: format!("{l}.attention.self.query"),
        key: format!("{l}.attention.self.key"),
        value: format!("{l}.attention.self.value"),
        attention_out: format!("{l}.attention.output.dense"),
        attention_norm: format!("{l}.attention.output.LayerNorm"),
        ffn_in: format!("{l}.intermediate.dense"),
        ffn_out: format!("{l}.output.dense"),
        output_norm: format!("{l}.output.LayerNorm"),
    }
}
