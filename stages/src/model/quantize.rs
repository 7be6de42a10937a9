//! Whether the dense layers run on quantized weights (`quantize` of the evaluate
//! stage, `pipe predict --quantize`, `pipe bench infer --quantize`): inference
//! only, training never quantizes. `none` is the default and leaves stage keys
//! as they were (the param is written into a key only when set).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Quantize {
    /// The f32 weights, products at the model's precision
    #[default]
    None,
    /// Dynamic int8: weights per output channel once, activations per token as they come,
    /// int32 sums (kernels/int8.rs)
    Int8,
}

impl Quantize {
    pub fn name(self) -> &'static str {
        match self {
            Quantize::None => "none",
            Quantize::Int8 => "int8",
        }
    }

    pub fn is_none(&self) -> bool {
        *self == Quantize::None
    }
}
