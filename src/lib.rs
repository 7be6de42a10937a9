//! The `pipe` engine: pipeline files to a content-hashed DAG of stage instances,
//! an artifact store keyed by those hashes, run records and the CLI. It knows
//! nothing of ML; the stages (crate `pipe-stages`) do the work.

pub mod atomic;
pub mod cli;
pub mod commands;
pub mod error;
pub mod flatten;
pub mod interpolate;
pub mod key;
pub mod lockfile;
pub mod matrix;
pub mod metric_text;
pub mod overrides;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod record;
pub mod runner;
pub mod spec;
pub mod store;
pub mod suggest;
pub mod table;
pub mod why;

pub use error::Error;
