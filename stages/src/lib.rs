//! Stage protocol and the built-in stages of `pipe`.
//!
//! The engine (crate `pipe`) knows DAGs, keys and the store; everything a stage
//! computes lives here. A stage sees only its resolved params, its upstream
//! artifact directories and a private output directory (see [`Context`]).

pub mod context;
pub mod error;
pub mod interrupt;
pub mod json;
pub mod params;
pub mod registry;
pub mod rng;
pub mod stage;
pub mod testkit;
pub mod tree;
pub mod values;
pub mod workspace;

pub use context::{Context, Input, Progress, SilentProgress, SEED_AXIS};
pub use error::StageError;
pub use registry::Registry;
pub use stage::{Stage, Upstream};

pub mod data;
pub mod eval;
pub(crate) mod kernels;
pub use kernels::{dense_product, simd};
pub mod model;
pub mod numfmt;
pub mod planned_at;
pub mod plot;
pub mod predict;
pub mod report;
pub mod shell;
pub mod stats;
pub mod train;
pub mod viz;
