//! The `pipe` engine: pipeline files to a content-hashed DAG of stage instances,
//! an artifact store keyed by those hashes, run records and the CLI. It knows
//! nothing of ML; the stages (crate `pipe-stages`) do the work.

pub mod atomic;
pub mod cli;
pub mod commands;
pub mod durable;
pub mod dvc;
pub mod error;
pub mod executor;
pub mod flatten;
pub mod host;
pub mod integrity;
pub mod interpolate;
pub mod key;
pub mod key_change;
pub mod lockfile;
pub mod matrix;
pub mod metric_text;
pub mod mutex;
pub mod out_lock;
pub mod overrides;
pub mod plan;
pub mod preflight;
pub mod probe;
pub mod progress;
pub mod record;
pub mod remote;
pub mod resources;
pub mod runner;
pub mod seal;
pub mod signals;
pub mod spec;
pub mod store;
pub mod suggest;
pub mod table;
pub mod why;
pub mod workspace;

pub use error::Error;
