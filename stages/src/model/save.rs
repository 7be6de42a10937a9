//! Writing a classifier: its parameters as safetensors under the original HF
//! names, or a complete Hugging Face model directory that
//! `AutoModelForSequenceClassification.from_pretrained` loads unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use serde_json::{json, Value};

use super::classifier::{Classifier, POOLING_KEY};
use super::error::ModelError;

impl Classifier {
    /// All parameters (encoder and head), f32, metadata `format: pt` as torch writes it.
    pub fn save_safetensors(&self, path: &Path) -> Result<(), ModelError> {
        let mut buffers = Vec::new();
        for (name, var) in self.weights.vars() {
            let t = var.as_tensor();
            let bytes: Vec<u8> = t.flatten_all()?.to_vec1::<f32>()?.iter().flat_map(|v| v.to_le_bytes()).collect();
            buffers.push((name.clone(), t.dims().to_vec(), bytes));
        }
        let bad = |e: safetensors::SafeTensorError| ModelError::Save(format!("{}: {e}", path.display()));
        let views = buffers
            .iter()
            .map(|(name, shape, bytes)| {
                Ok((name.as_str(), TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(bad)?))
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
        safetensors::serialize_to_file(views, Some(metadata), path).map_err(bad)
    }

    /// `config.json` (architectures, id2label, the layer count in use, the pooling),
    /// `model.safetensors` and copies of `tokenizer_files`.
    pub fn save_hf_dir(&self, dir: &Path, tokenizer_files: &[PathBuf]) -> Result<(), ModelError> {
        std::fs::create_dir_all(dir).map_err(ModelError::io(dir))?;
        let mut config = self.config.raw.clone();
        let obj = config
            .as_object_mut()
            .ok_or_else(|| ModelError::Save("config.json of the loaded model is not an object".into()))?;
        obj.insert("architectures".into(), json!([self.config.arch.class_name]));
        obj.insert("id2label".into(), json!({"0": "negative", "1": "positive"}));
        obj.insert("label2id".into(), json!({"negative": 0, "positive": 1}));
        obj.insert(self.config.arch.layers_key.into(), Value::from(self.config.layers));
        obj.insert(POOLING_KEY.into(), Value::from(self.opts.pooling.name()));
        let text = serde_json::to_string_pretty(&config).map_err(|e| ModelError::Save(e.to_string()))? + "\n";
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, text).map_err(ModelError::io(&config_path))?;
        self.save_safetensors(&dir.join("model.safetensors"))?;
        for file in tokenizer_files {
            let name =
                file.file_name().ok_or_else(|| ModelError::Checkpoint(format!("{}: not a file", file.display())))?;
            std::fs::copy(file, dir.join(name)).map_err(ModelError::io(file))?;
        }
        Ok(())
    }
}
