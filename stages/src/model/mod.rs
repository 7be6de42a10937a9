//! Encoders with a 2-label sequence-classification head, written on candle so
//! that attention probabilities, seeded dropout and gradients through every
//! layer are available. The layers are written once; what differs between
//! architectures lives in `arch/`, one file each (README.md: adding one). The
//! ops they are built from are in `crate::kernels`.

mod arch;
mod attention;
mod batch;
mod classifier;
mod config;
mod dropout;
mod embeddings;
mod encoder;
mod error;
mod head;
mod hub;
mod linear;
mod options;
mod packing;
mod pooling;
mod quantize;
mod save;
mod weights;

pub use crate::kernels::{Precision, PrecisionChoice};
pub use arch::Architecture;
pub use batch::Batch;
pub use classifier::{Classifier, Output};
pub use config::{Activation, ModelConfig};
pub use dropout::Mode;
pub use error::ModelError;
pub use options::ModelOptions;
pub use pooling::{mean_pool, Pooling};
pub use quantize::Quantize;
pub use weights::NUM_LABELS;
