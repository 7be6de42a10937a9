//! Parameters of the `train` stage, with the seed recipe's defaults.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schedule::LinearSchedule;
use super::trainer::Recipe;
use crate::model::{ModelOptions, Pooling, Precision, PrecisionChoice, Quantize};
use crate::simd::Level;
use crate::{params, StageError};

/// The param that `auto` fills in per machine.
pub const PRECISION: &str = "precision";

/// Which dev figure chooses the best epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectBy {
    #[default]
    DevLoss,
    DevAccuracy,
}

impl SelectBy {
    pub fn name(self) -> &'static str {
        match self {
            SelectBy::DevLoss => "dev_loss",
            SelectBy::DevAccuracy => "dev_accuracy",
        }
    }

    /// True when (loss, accuracy) beats the best so far; accuracy ties go to the lower loss.
    pub fn improves(self, loss: f64, accuracy: f64, best: Option<(f64, f64)>) -> bool {
        let Some((best_loss, best_accuracy)) = best else { return true };
        match self {
            SelectBy::DevLoss => loss < best_loss,
            SelectBy::DevAccuracy => accuracy > best_accuracy || (accuracy == best_accuracy && loss < best_loss),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    /// Hub model repo; by default the one the upstream `tokenize` stage used.
    pub model: Option<String>,
    /// Hub revision; by default the upstream `tokenize` stage's (else `main`).
    pub revision: Option<String>,
    /// Cap on tokens per sentence (kept: [CLS] ... [SEP]); by default tokenize's length.
    pub max_len: Option<usize>,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub lr: f64,
    /// AdamW decoupled weight decay, not applied to biases and LayerNorm weights.
    pub weight_decay: f64,
    /// Share of all steps spent warming the learning rate up from 0 (then linear decay to 0).
    pub warmup_ratio: f64,
    /// Maximum global gradient norm.
    pub grad_clip: f64,
    pub label_smoothing: f64,
    pub epochs: usize,
    pub select_by: SelectBy,
    /// Stop after this many epochs without improvement of `select_by`.
    pub patience: Option<usize>,
    pub pooling: Pooling,
    /// f64 so that the resolved params (keys, `params.json`, the report) show the
    /// value as written; the model takes it as f32.
    pub dropout: f64,
    /// Keep only the first N encoder layers.
    pub num_layers: Option<usize>,
    /// Keep the embedding tables fixed.
    pub freeze_embeddings: bool,
    /// Train on a seeded, label-stratified subset of this many training rows.
    pub train_subset: Option<usize>,
    /// Of the dense layers' matrix products in training and its dev evaluations,
    /// as resolved: `with:` takes `auto` (the default), `fp32` or `bf16`, and
    /// `resolve_at` puts the precision auto means on the machine in its place.
    /// Left out of the resolved params when fp32, so keys (and caches) from
    /// before the option existed stay valid.
    #[serde(skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            model: None,
            revision: None,
            max_len: None,
            batch_size: 32,
            eval_batch_size: 128,
            lr: 2e-5,
            weight_decay: 0.01,
            warmup_ratio: 0.06,
            grad_clip: 1.0,
            label_smoothing: 0.0,
            epochs: 3,
            select_by: SelectBy::DevLoss,
            patience: None,
            pooling: Pooling::Cls,
            dropout: 0.1,
            num_layers: None,
            freeze_embeddings: false,
            train_subset: None,
            precision: Precision::Fp32,
        }
    }
}

impl TrainParams {
    /// `with:` params as resolved at SIMD `level`: defaults filled in, checked,
    /// and `precision` (`auto` when left out) replaced by the precision it means
    /// at that level, which is what the stage key, the run record and
    /// `params.json` carry.
    pub fn resolve_at(raw: &Value, level: Level) -> Result<Value, StageError> {
        let mut raw = raw.clone();
        if raw.is_null() {
            raw = Value::Object(Default::default());
        }
        if let Value::Object(map) = &mut raw {
            let choice = map.get(PRECISION).map(|v| serde_json::from_value::<PrecisionChoice>(v.clone())).transpose();
            let choice = choice.map_err(|e| StageError::param(PRECISION, e.to_string()))?.unwrap_or_default();
            map.insert(PRECISION.into(), choice.resolve_at(level).name().into());
        }
        let resolved = params::resolve::<TrainParams>(&raw)?;
        params::parse::<TrainParams>(&resolved)?.validate()?;
        Ok(resolved)
    }

    /// Range checks serde cannot express; the error names the key.
    pub fn validate(&self) -> Result<(), StageError> {
        let check =
            |ok: bool, key: &str, what: &str| if ok { Ok(()) } else { Err(StageError::param(key, what.to_string())) };
        check(self.batch_size > 0, "batch_size", "must be at least 1")?;
        check(self.eval_batch_size > 0, "eval_batch_size", "must be at least 1")?;
        check(self.epochs > 0, "epochs", "must be at least 1")?;
        check(self.lr > 0.0 && self.lr.is_finite(), "lr", "must be a positive number")?;
        check(self.weight_decay >= 0.0, "weight_decay", "must be >= 0")?;
        check((0.0..=1.0).contains(&self.warmup_ratio), "warmup_ratio", "must be in [0, 1]")?;
        check(self.grad_clip > 0.0, "grad_clip", "must be > 0")?;
        check((0.0..1.0).contains(&self.label_smoothing), "label_smoothing", "must be in [0, 1)")?;
        check((0.0..1.0).contains(&self.dropout), "dropout", "must be in [0, 1)")?;
        check(self.max_len.is_none_or(|n| n >= 2), "max_len", "must be at least 2 ([CLS] and [SEP])")?;
        check(self.patience.is_none_or(|n| n >= 1), "patience", "must be at least 1")?;
        check(self.num_layers.is_none_or(|n| n >= 1), "num_layers", "must be at least 1")?;
        check(self.train_subset.is_none_or(|n| n >= 1), "train_subset", "must be at least 1")?;
        Ok(())
    }

    /// The optimiser's settings for a run of `total_steps` steps.
    pub fn recipe(&self, total_steps: usize) -> Recipe {
        Recipe {
            lr: self.lr,
            weight_decay: self.weight_decay,
            warmup_steps: LinearSchedule::warmup_steps(total_steps, self.warmup_ratio),
            total_steps,
            grad_clip: self.grad_clip,
            label_smoothing: self.label_smoothing,
            freeze_embeddings: self.freeze_embeddings,
        }
    }

    pub fn model_options(&self) -> ModelOptions {
        ModelOptions {
            pooling: self.pooling,
            dropout: self.dropout as f32,
            num_layers: self.num_layers,
            precision: self.precision,
            // Training never quantizes: rounding has no gradient to learn through.
            quantize: Quantize::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{parse, resolve};
    use serde_json::json;

    #[test]
    fn defaults_are_the_seed_recipe() {
        let v = resolve::<TrainParams>(&json!({})).unwrap();
        assert_eq!(v["batch_size"], 32);
        assert_eq!(v["lr"], 2e-5);
        assert_eq!(v["select_by"], "dev_loss");
        assert_eq!(v["pooling"], "cls");
        assert_eq!(v["dropout"].to_string(), "0.1", "printed as written, not as the nearest f32");
        assert!(v.get("precision").is_none(), "fp32 is left out so older keys still match");
        assert_eq!(resolve::<TrainParams>(&json!({"precision": "bf16"})).unwrap()["precision"], "bf16");
        parse::<TrainParams>(&v).unwrap().validate().unwrap();
    }

    #[test]
    fn auto_resolves_per_level_and_fp32_keeps_its_old_params() {
        let at = |with: Value, level| TrainParams::resolve_at(&with, level).unwrap();
        let pinned_fp32 = resolve::<TrainParams>(&json!({})).unwrap();
        for level in Level::ALL {
            let auto = at(json!({}), level);
            assert_eq!(at(json!({"precision": "auto"}), level), auto, "{level}: auto is the default");
            assert_eq!(at(json!(null), level), auto, "{level}: no `with:` at all");
            assert_eq!(at(json!({"precision": "fp32"}), level), pinned_fp32, "{level}");
            assert_eq!(at(json!({"precision": "bf16"}), level)["precision"], "bf16", "{level}");
            // bf16 where a fast bf16 product runs: AMX tiles, or AVX512-BF16 at avx512.
            let fast = level == Level::Amx || (level == Level::Avx512 && crate::simd::has_bf16_dot());
            let want = if fast { json!("bf16") } else { Value::Null };
            assert_eq!(auto.get("precision").cloned().unwrap_or(Value::Null), want, "{level}");
        }
        assert_eq!(at(json!({}), Level::Avx2), pinned_fp32, "auto on AVX2 has the key of a pinned fp32");
        let err = TrainParams::resolve_at(&json!({"precision": "fp16"}), Level::Amx).unwrap_err();
        assert!(matches!(&err, StageError::Param { key, .. } if key == "precision"), "{err}");
        assert!(err.to_string().contains("`auto`, `fp32`"), "{err}");
        let err = TrainParams::resolve_at(&json!({"dropout": 1.5}), Level::Amx).unwrap_err();
        assert!(matches!(&err, StageError::Param { key, .. } if key == "dropout"), "checked too: {err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let p: TrainParams = parse(&json!({"dropout": 1.5})).unwrap();
        assert!(matches!(p.validate(), Err(StageError::Param { key, .. }) if key == "dropout"));
        let err = resolve::<TrainParams>(&json!({"select_by": "dev_f1"})).unwrap_err();
        assert!(err.to_string().contains("dev_f1"), "{err}");
    }

    #[test]
    fn selection_prefers_lower_loss_or_higher_accuracy() {
        assert!(SelectBy::DevLoss.improves(0.3, 0.5, None));
        assert!(SelectBy::DevLoss.improves(0.3, 0.5, Some((0.4, 0.9))));
        assert!(!SelectBy::DevLoss.improves(0.4, 0.99, Some((0.4, 0.9))));
        assert!(SelectBy::DevAccuracy.improves(0.9, 0.91, Some((0.3, 0.9))));
        assert!(SelectBy::DevAccuracy.improves(0.2, 0.9, Some((0.3, 0.9))));
        assert!(!SelectBy::DevAccuracy.improves(0.2, 0.89, Some((0.3, 0.9))));
    }
}
