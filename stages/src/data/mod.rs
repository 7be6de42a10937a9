//! Data stages: download, split, tokenize; and hub access shared with the model code.

pub mod columns;
pub mod counts;
pub mod download;
pub mod examples;
pub mod hub;
pub mod lengths;
pub mod parquet_table;
pub mod phrases;
pub mod source;
pub mod split;
pub mod stratify;
pub mod table;
pub mod tokenize;
pub mod tokens;

pub fn register(r: &mut crate::Registry) {
    r.add(Box::new(download::Download));
    r.add(Box::new(split::Split));
    r.add(Box::new(tokenize::Tokenize));
}
