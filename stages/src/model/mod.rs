//! BERT-family encoders (BERT, DistilBERT) with a 2-label sequence-classification
//! head, written on candle so that attention probabilities, seeded dropout and
//! gradients through every layer are available (see DESIGN.md, "Models and data").

#[cfg(target_arch = "x86_64")]
mod amx;
mod attention;
mod bf16;
mod batch;
mod classifier;
mod config;
pub(crate) mod cpu_data;
mod dropout;
mod gemm;
mod embeddings;
mod encoder;
mod expf;
mod gelu;
mod head;
mod heads;
mod lanes;
mod layer_norm;
mod linear;
mod lookup;
mod malloc;
mod names;
pub(crate) mod par;
mod precision;
mod residual;
mod save;
mod softmax;
mod threads;
mod transpose;
mod weights;
mod wide;

pub use batch::Batch;
pub use classifier::{Classifier, Output};
pub use config::{Activation, ModelConfig, ModelType};
pub use dropout::Mode;
pub use head::{mean_pool, HeadOptions, Pooling};
pub use malloc::{keep_freed_memory, LineAligned};
pub use precision::Precision;
pub use threads::single_threaded_elementwise;
pub use weights::NUM_LABELS;
