//! `split`: source train -> train + dev (stratified by sentence, seeded), source validation ->
//! test (the scored split), source test (unlabelled) -> unlabelled.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::examples::{self, Example};
use super::{counts, stratify};
use crate::{params, Context, Stage, StageError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitParams {
    /// Fraction of each label of the source train split moved to dev.
    pub train_dev_split: f64,
}

impl Default for SplitParams {
    fn default() -> Self {
        SplitParams { train_dev_split: 0.1 }
    }
}

pub struct Split;

impl Stage for Split {
    fn kind(&self) -> &'static str {
        "split"
    }

    fn version(&self) -> u32 {
        2
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        let resolved = params::resolve::<SplitParams>(raw)?;
        let p: SplitParams = params::parse(&resolved)?;
        if !(p.train_dev_split > 0.0 && p.train_dev_split < 1.0) {
            return Err(StageError::param(
                "train_dev_split",
                format!("must be between 0 and 1 (exclusive), got {}", p.train_dev_split),
            ));
        }
        Ok(resolved)
    }

    fn headline(&self) -> &'static [&'static str] {
        &["train_rows", "dev_rows", "test_rows", "unlabelled_rows", "overlap"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let p: SplitParams = params::parse(&ctx.params)?;
        let dir = ctx.input("download")?.dir.clone();
        let source_train = labelled(&dir.join("train.jsonl"))?;
        let test = labelled(&dir.join("validation.jsonl"))?;
        let unlabelled = examples::read_jsonl(&dir.join("test.jsonl"))?;

        let mut rng = crate::rng::derive(ctx.seed, "split/train_dev");
        let stratify::TrainDev { train, dev, sentences, dev_sentences } =
            stratify::train_dev(source_train, p.train_dev_split, &mut rng);
        let parts = [("train", &train), ("dev", &dev), ("test", &test), ("unlabelled", &unlabelled)];
        for (name, rows) in &parts[..3] {
            if rows.is_empty() {
                let hint = match *name {
                    "test" => "the source has no validation rows".to_string(),
                    _ => format!(
                        "train_dev_split {} of {} sentences in {} source train rows",
                        p.train_dev_split,
                        sentences,
                        train.len() + dev.len()
                    ),
                };
                return Err(StageError::Data(format!("empty split `{name}` ({hint})")));
            }
        }
        let overlap = overlap(&[&train, &dev, &test]);
        if overlap > 0 {
            return Err(StageError::Failed(format!("{overlap} sentences appear in two of train/dev/test")));
        }

        for (name, rows) in parts {
            examples::write_jsonl(&ctx.out_path(format!("{name}.jsonl"))?, rows)?;
            counts::record(ctx, name, rows);
        }
        ctx.metric("overlap", overlap);
        ctx.metric("sentences", sentences);
        ctx.metric("dev_sentences", dev_sentences);
        ctx.metric("train_positive_fraction", positive_fraction(&train));
        ctx.metric("dev_positive_fraction", positive_fraction(&dev));
        // Same text under another index is not a leak by (source, idx), but worth knowing.
        let train_texts: HashSet<&str> = train.iter().map(|e| e.text.as_str()).collect();
        ctx.metric("test_texts_in_train", test.iter().filter(|e| train_texts.contains(e.text.as_str())).count());
        Ok(())
    }
}

/// Examples of a split that must be fully labelled (train and validation).
fn labelled(path: &Path) -> Result<Vec<Example>, StageError> {
    let rows = examples::read_jsonl(path)?;
    if let Some(row) = rows.iter().position(|e| e.label.is_none()) {
        return Err(StageError::Data(format!(
            "{}: line {} has no label (label -1); train and validation must be labelled",
            path.display(),
            row + 1
        )));
    }
    Ok(rows)
}

/// How many (source, idx) sentences appear in more than one of the parts.
fn overlap(parts: &[&Vec<Example>]) -> usize {
    let mut seen: HashSet<(&str, u64)> = HashSet::new();
    let mut repeated = 0;
    for part in parts {
        let keys: HashSet<(&str, u64)> = part.iter().map(|e| (e.source.as_str(), e.idx)).collect();
        repeated += keys.iter().filter(|k| seen.contains(*k)).count();
        seen.extend(keys);
    }
    repeated
}

fn positive_fraction(rows: &[Example]) -> f64 {
    rows.iter().filter(|e| e.label == Some(1)).count() as f64 / rows.len() as f64
}
