//! Data stages: download, split, tokenize.

pub mod examples;
pub mod tokens;

pub fn register(_r: &mut crate::Registry) {}
