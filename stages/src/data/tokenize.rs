//! `tokenize`: every split through the model's `tokenizer.json` (padding and
//! truncation switched off), then cut to `max_len` keeping the final special
//! token, written as ragged ids per split (`data::tokens`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokenizers::Tokenizer;

use super::examples;
use super::hub::{self, HubRepo};
use super::lengths;
use super::source::file_hash;
use super::tokens::TokenizedSplit;
use crate::{params, Context, Stage, StageError, Upstream};

/// The splits written by the split stage, in the order they are tokenized.
const SPLITS: [&str; 4] = ["train", "dev", "test", "unlabelled"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizeParams {
    /// Hub model id, or a local directory (relative to the pipeline file) holding tokenizer.json.
    pub model: String,
    pub revision: String,
    /// Longest sequence kept, special tokens included.
    pub max_len: usize,
}

impl Default for TokenizeParams {
    fn default() -> Self {
        TokenizeParams { model: "sentence-transformers/all-MiniLM-L6-v2".into(), revision: "main".into(), max_len: 128 }
    }
}

impl TokenizeParams {
    fn local_dir(&self, workdir: &Path) -> Option<PathBuf> {
        let dir = workdir.join(&self.model);
        dir.join("tokenizer.json").is_file().then_some(dir)
    }

    /// The hub commit the model resolves to (null for a local directory).
    fn commit(&self, workdir: &Path) -> Result<Value, StageError> {
        Ok(match self.local_dir(workdir) {
            Some(_) => Value::Null,
            None => Value::String(HubRepo::model(&self.model, &self.revision).commit()?),
        })
    }

    fn tokenizer_file(&self, workdir: &Path) -> Result<PathBuf, StageError> {
        self.model_file(workdir, "tokenizer.json")
    }

    fn model_file(&self, workdir: &Path, name: &str) -> Result<PathBuf, StageError> {
        match self.local_dir(workdir) {
            Some(dir) => Ok(dir.join(name)),
            None => hub::model_file(&self.model, &self.revision, name),
        }
    }

    /// `max_len` within the model's positions (config.json's `max_position_embeddings`),
    /// so that a sequence too long for it is refused here, not at training. A model
    /// without that file (a tokenizer alone) is not checked.
    fn check_positions(&self, workdir: &Path) -> Result<(), StageError> {
        let Ok(config) = self.model_file(workdir, "config.json") else { return Ok(()) };
        let Ok(text) = std::fs::read_to_string(&config) else { return Ok(()) };
        let positions = serde_json::from_str::<Value>(&text).ok().and_then(|c| c["max_position_embeddings"].as_u64());
        match positions {
            Some(n) if self.max_len as u64 > n => Err(StageError::param(
                "max_len",
                format!("{} is more than the {n} positions of {} (max_position_embeddings)", self.max_len, self.model),
            )),
            _ => Ok(()),
        }
    }
}

pub struct Tokenize;

impl Stage for Tokenize {
    fn kind(&self) -> &'static str {
        "tokenize"
    }

    fn version(&self) -> u32 {
        2
    }

    fn resolve(&self, raw: &Value) -> Result<Value, StageError> {
        let resolved = params::resolve::<TokenizeParams>(raw)?;
        let p: TokenizeParams = params::parse(&resolved)?;
        if p.max_len < 2 {
            return Err(StageError::param(
                "max_len",
                format!("must be at least 2 ([CLS] and [SEP]), got {}", p.max_len),
            ));
        }
        Ok(resolved)
    }

    fn check(&self, params: &Value, workdir: &Path, _upstream: &[Upstream]) -> Result<(), StageError> {
        params::parse::<TokenizeParams>(params)?.check_positions(workdir)
    }

    /// The tokenizer file's hash, and for a hub model the commit it came from.
    fn fingerprint(&self, params: &Value, workdir: &Path) -> Result<Value, StageError> {
        let p: TokenizeParams = params::parse(params)?;
        let tokenizer = file_hash(&p.tokenizer_file(workdir)?)?;
        Ok(json!({"commit": p.commit(workdir)?, "tokenizer_blake3": tokenizer}))
    }

    fn headline(&self) -> &'static [&'static str] {
        &["train_len_p95", "train_truncated", "test_truncated"]
    }

    fn run(&self, ctx: &mut Context) -> Result<(), StageError> {
        let p: TokenizeParams = params::parse(&ctx.params)?;
        let split_dir = ctx.input("split")?.dir.clone();
        let source = p.tokenizer_file(&ctx.workdir)?;
        let (json, tokenizer) = load_unpadded(&source)?;

        let mut done = Vec::new();
        for split in SPLITS {
            ctx.progress.set_message(&format!("tokenizing {split}"));
            let rows = examples::read_jsonl(&split_dir.join(format!("{split}.jsonl")))?;
            let texts: Vec<&str> = rows.iter().map(|e| e.text.as_str()).collect();
            let encodings = tokenizer
                .encode_batch(texts, true)
                .map_err(|e| StageError::Failed(format!("tokenizing {split} with {}: {e}", source.display())))?;
            let lengths: Vec<usize> = encodings.iter().map(|e| e.len()).collect();
            let ids = encodings.iter().map(|e| truncate(e, p.max_len)).collect();
            let labels = rows.iter().map(|e| e.label.map_or(-1, i64::from)).collect();
            done.push((split, TokenizedSplit { ids, labels }, lengths));
        }

        for (split, tokenized, lengths) in done {
            tokenized.write(&ctx.out_path(format!("{split}.safetensors"))?)?;
            lengths::record(ctx, split, &lengths, p.max_len);
        }
        let path = ctx.out_path("tokenizer.json")?;
        std::fs::write(&path, json).map_err(StageError::io(&path))?;
        // Models that share a tokenizer (MiniLM-L3 and -L6) give identical token files;
        // naming the model in the artifact keeps their hashes, and so the keys of the
        // train stages that read the model from here, apart.
        let model = json!({"model": p.model, "revision": p.revision, "commit": p.commit(&ctx.workdir)?});
        crate::json::write(&ctx.out_path("model.json")?, &model)
    }
}

/// The tokenizer with padding and truncation switched off, and its JSON text
/// (the copy written to the artifact is exactly the one used).
pub fn load_unpadded(path: &Path) -> Result<(String, Tokenizer), StageError> {
    let bad =
        |e: &dyn std::fmt::Display| StageError::Input(format!("{}: not a usable tokenizer.json: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(StageError::io(path))?;
    let mut value: Value = serde_json::from_str(&text).map_err(|e| bad(&e))?;
    let object = value.as_object_mut().ok_or_else(|| bad(&"not a JSON object"))?;
    object.insert("padding".into(), Value::Null);
    object.insert("truncation".into(), Value::Null);
    let json = serde_json::to_string_pretty(&value).map_err(|e| bad(&e))? + "\n";
    let tokenizer = Tokenizer::from_bytes(json.as_bytes()).map_err(|e| bad(&e))?;
    Ok((json, tokenizer))
}

/// The ids cut to `max_len`; a final special token ([SEP]) is kept as the last id.
fn truncate(encoding: &tokenizers::Encoding, max_len: usize) -> Vec<u32> {
    let ids = encoding.get_ids();
    if ids.len() <= max_len {
        return ids.to_vec();
    }
    let ends_special = encoding.get_special_tokens_mask().last() == Some(&1);
    let mut kept = ids[..max_len].to_vec();
    if ends_special {
        kept[max_len - 1] = ids[ids.len() - 1];
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_len_beyond_the_models_positions_is_a_param_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        std::fs::write(dir.path().join("m/tokenizer.json"), "{}").unwrap();
        let p = |max_len| TokenizeParams { model: "m".into(), revision: "main".into(), max_len };
        assert!(p(512).check_positions(dir.path()).is_ok(), "no config.json: nothing to check against");
        std::fs::write(dir.path().join("m/config.json"), r#"{"max_position_embeddings": 128}"#).unwrap();
        assert!(p(128).check_positions(dir.path()).is_ok());
        let err = p(129).check_positions(dir.path()).unwrap_err();
        assert!(err.is_config(), "{err}");
        assert_eq!(
            err.to_string(),
            "param `max_len`: 129 is more than the 128 positions of m (max_position_embeddings)"
        );
    }
}
