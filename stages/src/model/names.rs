//! Original Hugging Face tensor names of the two architectures, as the
//! `*ForSequenceClassification` models store them (`bert.` / `distilbert.` prefix
//! on the encoder, the head at the top level). Parameters are known by these names
//! everywhere: loading, `vars()`, the optimizer's decay groups and saving.

use super::config::ModelType;

/// Names of one encoder layer's modules (append `.weight` / `.bias`).
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

impl ModelType {
    /// The encoder's prefix inside a sequence-classification checkpoint.
    pub fn prefix(self) -> &'static str {
        match self {
            ModelType::Bert => "bert",
            ModelType::DistilBert => "distilbert",
        }
    }

    pub fn architecture(self) -> &'static str {
        match self {
            ModelType::Bert => "BertForSequenceClassification",
            ModelType::DistilBert => "DistilBertForSequenceClassification",
        }
    }

    pub fn word_embeddings(self) -> String {
        format!("{}.embeddings.word_embeddings", self.prefix())
    }

    pub fn position_embeddings(self) -> String {
        format!("{}.embeddings.position_embeddings", self.prefix())
    }

    /// BERT only: DistilBERT has no token types.
    pub fn token_type_embeddings(self) -> Option<String> {
        (self == ModelType::Bert).then(|| format!("{}.embeddings.token_type_embeddings", self.prefix()))
    }

    pub fn embeddings_norm(self) -> String {
        format!("{}.embeddings.LayerNorm", self.prefix())
    }

    pub fn layer(self, i: usize) -> LayerNames {
        match self {
            ModelType::Bert => {
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
            ModelType::DistilBert => {
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
        }
    }

    /// The dense layer between pooling and classifier: BERT's pooler (tanh),
    /// DistilBERT's pre_classifier (ReLU).
    pub fn pre_classifier(self) -> &'static str {
        match self {
            ModelType::Bert => "bert.pooler.dense",
            ModelType::DistilBert => "pre_classifier",
        }
    }

    pub fn classifier(self) -> &'static str {
        "classifier"
    }

    /// The name a checkpoint tensor has in our naming: encoder tensors saved
    /// without the prefix (a bare `BertModel`, e.g. sentence-transformers) gain it.
    pub fn canonical(self, stored: &str) -> String {
        let prefix = self.prefix();
        let is_head = stored.starts_with("classifier.") || stored.starts_with("pre_classifier.");
        if is_head || stored.starts_with(&format!("{prefix}.")) {
            stored.to_string()
        } else {
            format!("{prefix}.{stored}")
        }
    }
}
