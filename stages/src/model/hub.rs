//! Classifiers from the Hugging Face cache (`data::hub`): where the model code
//! meets the stages' hub access, whose errors are the stages' own.

use super::classifier::Classifier;
use super::config::ModelConfig;
use super::options::ModelOptions;
use crate::data::hub::model_file;
use crate::StageError;

impl Classifier {
    /// From a hub repo (config.json + model.safetensors); a head the checkpoint
    /// lacks is drawn from `seed`.
    pub fn from_hub(repo: &str, revision: &str, opts: &ModelOptions, seed: u64) -> Result<Classifier, StageError> {
        let config = model_file(repo, revision, "config.json")?;
        let weights = model_file(repo, revision, "model.safetensors")?;
        Ok(Classifier::load(&config, &weights, opts, Some(seed))?)
    }

    /// A hub model's architecture with `config.json` fields replaced and every
    /// weight drawn from `seed` (`pipe bench --config`: timing a resized model).
    pub fn random_from_hub(
        repo: &str,
        revision: &str,
        fields: &[(String, String)],
        opts: &ModelOptions,
        seed: u64,
    ) -> Result<Classifier, StageError> {
        let config = ModelConfig::read(&model_file(repo, revision, "config.json")?)?.with_fields(fields)?;
        Ok(Classifier::random(config, opts, seed)?)
    }
}
